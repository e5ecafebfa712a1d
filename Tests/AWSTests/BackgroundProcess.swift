import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process started with `posix_spawnp` (Foundation's `Process` hangs in this environment) and stopped by
/// PID: SIGTERM, a grace period, then SIGKILL, always reaped with `waitpid`.
final class BackgroundProcess: Sendable {
    let pid: pid_t

    /// Starts `arguments` (looked up in `PATH`) with stdin from `/dev/null` and stdout/stderr to `logPath`.
    init(_ arguments: [String], logPath: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawnp(&pid, arguments[0], &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw Spawn.Failure(
                description: "posix_spawnp \(arguments[0]) failed: \(String(cString: strerror(spawned)))"
            )
        }
        self.pid = pid
    }

    /// Whether the child has not exited yet (reaping it if it has).
    var isRunning: Bool {
        var status: Int32 = 0
        return waitpid(self.pid, &status, WNOHANG) == 0
    }

    /// Sends SIGTERM, waits up to `grace` seconds, then SIGKILLs; reaps the child either way.
    func stop(grace: Double = 5) {
        kill(self.pid, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        var status: Int32 = 0
        while Date() < deadline {
            let reaped = waitpid(self.pid, &status, WNOHANG)
            if reaped == self.pid || (reaped == -1 && errno != EINTR) {
                return
            }
            usleep(50_000)
        }
        kill(self.pid, SIGKILL)
        while waitpid(self.pid, &status, 0) == -1 && errno == EINTR {}
    }

    /// Whether `name` is an executable file in one of `PATH`'s directories.
    static func isInstalled(_ name: String) -> Bool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
    }

    /// A TCP port that was free a moment ago on 127.0.0.1 (bound to port 0, then released).
    static func freePort() throws -> Int {
        #if canImport(Glibc)
        let streamType = Int32(SOCK_STREAM.rawValue)
        #else
        let streamType = SOCK_STREAM
        #endif
        let socketFD = socket(AF_INET, streamType, 0)
        guard socketFD >= 0 else {
            throw Spawn.Failure(description: "socket failed")
        }
        defer { close(socketFD) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(socketFD, socketAddress, length) == 0 && getsockname(socketFD, socketAddress, &length) == 0
            }
        }
        guard bound else {
            throw Spawn.Failure(description: "bind failed")
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
