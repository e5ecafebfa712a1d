public import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn` and reaped with `waitpid`, always addressed by PID.
///
/// (Foundation's `Process.waitUntilExit` can hang when called from Swift concurrency on Linux,
/// leaving the child a zombie; a plain `waitpid` does not.)
public final class Spawned: Sendable {
    /// The child's PID.
    public let pid: pid_t
    private let status = Mutex<Int32?>(nil)

    private init(pid: pid_t) {
        self.pid = pid
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module
    /// does not declare; nil on an older C library.
    private static let addCloseFrom:
        (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
            guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
            return unsafeBitCast(
                symbol,
                to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self
            )
        }()

    /// Pass as `outputPath` to let the child write to this process's stdout and stderr.
    public static let inheritOutput = "-"

    /// Starts `executable` with `arguments`; output goes to `outputPath` (appended), to ours
    /// (`inheritOutput`), or to /dev/null.
    public static func launch(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        outputPath: String? = nil
    ) throws -> Spawned {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if outputPath != Self.inheritOutput {
            let output = outputPath ?? "/dev/null"
            posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        // Only stdin, stdout and stderr go to the child: a listening socket of ours that a child
        // inherited would stay open (and accept) after we close it, as long as the child lives.
        _ = Self.addCloseFrom?(&actions, 3)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let environmentList = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let envp = environmentList.map { strdup($0) } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid: pid_t = 0
        // The child starts with no signal blocked and every signal at its default action: a parent
        // that blocks SIGTERM (to read it as an async sequence) would otherwise hand that on, and
        // the child would ignore the SIGTERM meant to stop it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw SpawnError(command: executable, reason: String(cString: strerror(result)))
        }
        return Spawned(pid: pid)
    }

    /// Runs a command to completion; throws with its output when it fails.
    public static func run(_ executable: String, _ arguments: [String]) throws {
        let outputPath = NSTemporaryDirectory() + "mesh-cmd-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { unlink(outputPath) }
        let child = try Self.launch(executable, arguments, outputPath: outputPath)
        let status = child.waitBlocking()
        guard status == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw SpawnError(command: ([executable] + arguments).joined(separator: " "), reason: text)
        }
    }

    /// Runs a command to completion and returns its exit status and combined output.
    public static func capture(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let outputPath = NSTemporaryDirectory() + "mesh-cmd-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { unlink(outputPath) }
        let child = try Self.launch(executable, arguments, outputPath: outputPath)
        let status = child.waitBlocking()
        return (status, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }

    /// Whether process `pid` (not necessarily a child of this one) runs: a zombie, which its
    /// parent has not reaped yet, counts as stopped.
    public static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        guard let close = stat.lastIndex(of: ")") else { return false }
        return !stat[close...].dropFirst(2).hasPrefix("Z")
    }

    /// The full path of `name` in one of `PATH`'s directories, or nil.
    public static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":")
        where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        return nil
    }

    /// The exit status once the child has exited (reaping it), else nil.
    public func poll() -> Int32? {
        self.status.withLock { status in
            if let status { return status }
            var raw: Int32 = 0
            let result = waitpid(self.pid, &raw, WNOHANG)
            if result == self.pid {
                status = Self.decode(raw)
            } else if result < 0 {
                status = -1
            }
            return status
        }
    }

    /// Whether the child is still running.
    public var isRunning: Bool { self.poll() == nil }

    /// Blocks the calling thread until the child exits.
    public func waitBlocking() -> Int32 {
        if let done = self.poll() { return done }
        var raw: Int32 = 0
        let result = waitpid(self.pid, &raw, 0)
        return self.status.withLock { status in
            if status == nil { status = result == self.pid ? Self.decode(raw) : -1 }
            return status ?? -1
        }
    }

    /// Waits for the child to exit without blocking a thread (checks every 50 ms); throws
    /// `CancellationError` when the waiting task is cancelled.
    public func waitForExit() async throws -> Int32 {
        while true {
            if let done = self.poll() { return done }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Sends SIGTERM without waiting (to stop several children at once, as ECS stops a task).
    public func terminate() {
        if self.isRunning { kill(self.pid, SIGTERM) }
    }

    /// SIGTERM, then SIGKILL after `grace`; by PID only. Reaps the child. True when it had to
    /// be killed.
    @discardableResult
    public func stop(grace: Duration = .seconds(15)) -> Bool {
        guard self.isRunning else { return false }
        kill(self.pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while self.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        guard self.isRunning else { return false }
        kill(self.pid, SIGKILL)
        _ = self.waitBlocking()
        return true
    }

    private static func decode(_ raw: Int32) -> Int32 {
        // WIFEXITED / WEXITSTATUS, WTERMSIG as 128+n.
        if raw & 0x7f == 0 { return (raw >> 8) & 0xff }
        return 128 + (raw & 0x7f)
    }
}

/// A child process could not be started, or failed.
public struct SpawnError: Error, CustomStringConvertible, Sendable {
    public var command: String
    public var reason: String

    public var description: String { "\(self.command): \(self.reason)" }

    public init(command: String, reason: String) {
        self.command = command
        self.reason = reason
    }
}
