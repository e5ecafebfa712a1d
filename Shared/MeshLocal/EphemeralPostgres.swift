public import Foundation
public import Logging
import MeshCore
public import MeshStore
import PostgresNIO
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL cluster for tests and `meshctl dev`, made from the system's binaries.
///
/// `initdb` into a temporary directory, start on a free loopback port (and a Unix socket in that
/// directory), stop by PID and delete the directory at the end. As root the directory is handed
/// to the `postgres` OS user, since `initdb` refuses to run as root. A watchdog process stops the
/// cluster and deletes the directory if the owning process dies without cleaning up.
public final class EphemeralPostgres: Sendable {
    /// The settings to connect as the superuser to the `postgres` database.
    public let settings: DatabaseSettings
    /// The postmaster's PID (a new one after ``restart()``).
    public var pid: Int32 { self.postmaster.withLock { $0 } }
    private let postmaster: Mutex<Int32>
    /// The directory holding the cluster (deleted by `stop()`).
    public let directory: URL
    let binDirectory: URL
    let runAsPostgres: Bool
    let watchdog: Spawned?
    private let stopped = Mutex(false)
    private let databaseCounter = Atomic<Int>(0)

    init(
        settings: DatabaseSettings,
        pid: Int32,
        directory: URL,
        binDirectory: URL,
        runAsPostgres: Bool,
        watchdog: Spawned?
    ) {
        self.settings = settings
        self.postmaster = Mutex(pid)
        self.directory = directory
        self.binDirectory = binDirectory
        self.runAsPostgres = runAsPostgres
        self.watchdog = watchdog
    }

    /// Options for a new cluster.
    public struct Options: Sendable {
        /// Commits flushed to disk (on for benchmarks that compare commit rates; off makes tests
        /// faster, and loses commits only when the machine itself stops). Either way a commit is
        /// acknowledged once its WAL is written (`synchronous_commit` on): a PostgreSQL crash or
        /// immediate shutdown loses no acknowledged write, as in production (with it off, an
        /// immediate restart under writes lost 20 acknowledged KV writes and a deregistration).
        public var fsync: Bool
        public var maxConnections: Int

        public init(fsync: Bool = false, maxConnections: Int = 500) {
            self.fsync = fsync
            self.maxConnections = maxConnections
        }
    }

    /// Creates and starts a cluster. Throws with PostgreSQL's own output when a step fails.
    public static func start(options: Options = Options(), logger: Logger) throws -> EphemeralPostgres {
        let bin = try PostgresBinaries.locate()
        let runAsPostgres = geteuid() == 0
        let directory = try Self.makeDirectory(runAsPostgres: runAsPostgres)
        let data = directory.appendingPathComponent("data")
        do {
            var initdb = ["-D", data.path, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"]
            if !options.fsync { initdb.append("--no-sync") }
            try Self.run(bin.appendingPathComponent("initdb"), initdb, asPostgres: runAsPostgres)
            var lastError: (any Error)?
            for _ in 0..<5 {
                let port = try FreePort.pick()
                let conf = """

                    listen_addresses = '127.0.0.1'
                    port = \(port)
                    unix_socket_directories = '\(directory.path)'
                    max_connections = \(options.maxConnections)
                    fsync = \(options.fsync ? "on" : "off")
                    synchronous_commit = on
                    full_page_writes = \(options.fsync ? "on" : "off")
                    shared_buffers = 128MB
                    log_min_messages = warning

                    """
                let confURL = data.appendingPathComponent("postgresql.conf")
                let handle = try FileHandle(forWritingTo: confURL)
                try handle.seekToEnd()
                try handle.write(contentsOf: Data(conf.utf8))
                try handle.close()
                do {
                    try Self.startPostmaster(bin: bin, directory: directory, runAsPostgres: runAsPostgres)
                } catch {
                    lastError = error
                    continue
                }
                let pid = try Self.postmasterPID(directory: directory)
                let watchdog = try? Self.startWatchdog(
                    ownerPID: getpid(),
                    postmasterPID: pid,
                    directory: directory,
                    bin: bin,
                    runAsPostgres: runAsPostgres
                )
                logger.debug(
                    "ephemeral postgres started",
                    metadata: [LogKey.pid: "\(pid)", LogKey.address: "127.0.0.1:\(port)"]
                )
                return EphemeralPostgres(
                    settings: DatabaseSettings(host: "127.0.0.1", port: port, database: "postgres"),
                    pid: pid,
                    directory: directory,
                    binDirectory: bin,
                    runAsPostgres: runAsPostgres,
                    watchdog: watchdog
                )
            }
            throw lastError ?? EphemeralPostgresError(step: "start", output: "no free port")
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    /// Whether the postmaster runs (it is not this process's child: whoever reaps it may be
    /// slow to, so a zombie counts as stopped).
    public var isRunning: Bool { Spawned.isAlive(self.pid) }

    /// Starts the cluster again on its data directory and port, after its postmaster died (the
    /// data is kept: PostgreSQL recovers from its WAL as after a crash).
    public func restart() throws {
        try Self.startPostmaster(bin: self.binDirectory, directory: self.directory, runAsPostgres: self.runAsPostgres)
        let pid = try Self.postmasterPID(directory: self.directory)
        self.postmaster.withLock { $0 = pid }
    }

    /// `pg_ctl start` on the cluster in `directory`, waiting until it accepts connections.
    private static func startPostmaster(bin: URL, directory: URL, runAsPostgres: Bool) throws {
        try Self.run(
            bin.appendingPathComponent("pg_ctl"),
            [
                "-D", directory.appendingPathComponent("data").path, "-l",
                directory.appendingPathComponent("postgres.log").path, "-w", "-t", "60", "start",
            ],
            asPostgres: runAsPostgres
        )
    }

    /// The running postmaster's PID, from its `postmaster.pid`.
    private static func postmasterPID(directory: URL) throws -> Int32 {
        let file = directory.appendingPathComponent("data").appendingPathComponent("postmaster.pid")
        let pidText = try String(contentsOf: file, encoding: .utf8)
        guard let pid = pidText.split(separator: "\n").first.flatMap({ Int32($0) }) else {
            throw EphemeralPostgresError(step: "read postmaster.pid", output: pidText)
        }
        return pid
    }

    /// Creates a new, empty database in the cluster and returns settings pointing at it.
    public func createDatabase(prefix: String = "test", logger: Logger) async throws -> DatabaseSettings {
        let number = self.databaseCounter.add(1, ordering: .relaxed).newValue
        let name = "\(prefix)_\(getpid())_\(number)"
        let connection = try await PostgresConnection.connect(
            configuration: try self.settings.connectionConfiguration(),
            id: number,
            logger: logger
        )
        do {
            try await connection.query("CREATE DATABASE \(unescaped: name) TEMPLATE template0", logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        var settings = self.settings
        settings.database = name
        return settings
    }

    /// Stops the cluster (immediate shutdown, then SIGKILL by PID if it lingers) and deletes its
    /// directory. Safe to call more than once.
    public func stop() {
        let alreadyStopped = self.stopped.withLock { value -> Bool in
            defer { value = true }
            return value
        }
        guard !alreadyStopped else { return }
        let data = self.directory.appendingPathComponent("data")
        try? Self.run(
            self.binDirectory.appendingPathComponent("pg_ctl"),
            // Immediate: no shutdown checkpoint, since the data directory is deleted next.
            ["-D", data.path, "-m", "immediate", "-w", "-t", "20", "stop"],
            asPostgres: self.runAsPostgres
        )
        if kill(self.pid, 0) == 0 {
            kill(self.pid, SIGKILL)
        }
        if let watchdog = self.watchdog, watchdog.isRunning {
            kill(watchdog.pid, SIGKILL)
            _ = watchdog.waitBlocking()
        }
        try? FileManager.default.removeItem(at: self.directory)
    }

    deinit {
        self.stop()
    }

    private static func makeDirectory(runAsPostgres: Bool) throws -> URL {
        let base = URL(fileURLWithPath: NSTemporaryDirectory())
        let directory = base.appendingPathComponent("mesh-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        chmod(directory.path, 0o700)
        if runAsPostgres {
            guard let user = getpwnam("postgres") else {
                throw EphemeralPostgresError(
                    step: "find the postgres OS user",
                    output: "running as root needs the 'postgres' user (apt-get install -y postgresql)"
                )
            }
            chown(directory.path, user.pointee.pw_uid, user.pointee.pw_gid)
        }
        return directory
    }

    /// A shell loop that outlives a crashed owner just long enough to stop the cluster.
    private static func startWatchdog(
        ownerPID: Int32,
        postmasterPID: Int32,
        directory: URL,
        bin: URL,
        runAsPostgres: Bool
    ) throws -> Spawned {
        let prefix = runAsPostgres ? "runuser -u postgres -- " : ""
        let script = """
            while kill -0 \(ownerPID) 2>/dev/null; do sleep 1; done
            \(prefix)'\(bin.path)/pg_ctl' -D '\(directory.path)/data' -m immediate -w -t 10 stop >/dev/null 2>&1
            kill -9 \(postmasterPID) 2>/dev/null
            rm -rf '\(directory.path)'
            """
        return try Spawned.launch("/bin/sh", ["-c", script])
    }

    static func run(_ executable: URL, _ arguments: [String], asPostgres: Bool) throws {
        do {
            if asPostgres {
                try Spawned.run("/usr/sbin/runuser", ["-u", "postgres", "--", executable.path] + arguments)
            } else {
                try Spawned.run(executable.path, arguments)
            }
        } catch let error as SpawnError {
            throw EphemeralPostgresError(
                step: "\(executable.lastPathComponent) \(arguments.first ?? "")",
                output: error.reason
            )
        }
    }
}

/// A step of starting or stopping the ephemeral cluster failed.
public struct EphemeralPostgresError: Error, CustomStringConvertible, Sendable {
    public var step: String
    public var output: String

    public var description: String { "ephemeral PostgreSQL: \(self.step) failed: \(self.output)" }
}

/// Finds the PostgreSQL server binaries: `pg_config --bindir`, then the newest version directory
/// Debian installs (`/usr/lib/postgresql/<version>/bin`), then `PATH`.
public enum PostgresBinaries {
    public static func locate() throws -> URL {
        var candidates: [URL] = []
        if let bindir = try? Self.pgConfigBindir() { candidates.append(URL(fileURLWithPath: bindir)) }
        let debian = URL(fileURLWithPath: "/usr/lib/postgresql")
        if let versions = try? FileManager.default.contentsOfDirectory(atPath: debian.path) {
            for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
                candidates.append(debian.appendingPathComponent(version).appendingPathComponent("bin"))
            }
        }
        for entry in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append(URL(fileURLWithPath: String(entry)))
        }
        for candidate in candidates {
            let initdb = candidate.appendingPathComponent("initdb").path
            let pgctl = candidate.appendingPathComponent("pg_ctl").path
            if FileManager.default.isExecutableFile(atPath: initdb)
                && FileManager.default.isExecutableFile(atPath: pgctl)
            {
                return candidate
            }
        }
        throw EphemeralPostgresError(
            step: "find initdb and pg_ctl",
            output:
                "PostgreSQL server binaries not found; install them with: apt-get update && apt-get install -y postgresql"
        )
    }

    static func pgConfigBindir() throws -> String {
        let outputPath = NSTemporaryDirectory() + "mesh-pgconfig-\(getpid()).out"
        defer { unlink(outputPath) }
        let child = try Spawned.launch("/usr/bin/env", ["pg_config", "--bindir"], outputPath: outputPath)
        guard child.waitBlocking() == 0 else { throw EphemeralPostgresError(step: "pg_config", output: "") }
        let text = try String(contentsOfFile: outputPath, encoding: .utf8)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A loopback port held by a socket that is bound but not listening: connections to it are
/// refused, and no other socket of any test can bind it meanwhile (no `SO_REUSEADDR`). Tests use
/// it as a dead endpoint, or to hold an app's port after the app stopped: a port merely closed
/// can be handed to another test's listener at once, which then answers in its place.
public final class ReservedPort: Sendable {
    public let port: Int
    private let fd: Int32

    /// A fresh port (`port` 0), or `port` itself (which must be free).
    public init(port: Int = 0) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw EphemeralPostgresError(step: "socket", output: String(cString: strerror(errno))) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            close(fd)
            throw EphemeralPostgresError(step: "bind \(port)", output: String(cString: strerror(errno)))
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit {
        close(self.fd)
    }
}
