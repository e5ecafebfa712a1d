import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Picks a free TCP port on 127.0.0.1 for a listener that something else will bind later.
///
/// The port comes from 10000–19999, below the kernel's ephemeral range (32768 and up here), so the
/// kernel cannot hand it to another socket's `bind(0)` or to an outgoing connection's source port
/// between the pick and the bind; and no port is handed out twice in one process, so two tests
/// running side by side never get the same one. Each candidate is checked free by binding it.
public enum FreePort {
    private static let handedOut = Mutex<Set<Int>>([])
    private static let range = 10000..<20000

    public static func pick() throws -> Int {
        var lastError = "no port tried"
        for _ in 0..<200 {
            let candidate = Int.random(in: Self.range)
            let fresh = Self.handedOut.withLock { $0.insert(candidate).inserted }
            guard fresh else { continue }
            do {
                try Self.checkFree(candidate)
                return candidate
            } catch {
                lastError = error.output
            }
        }
        throw EphemeralPostgresError(step: "pick a free port", output: lastError)
    }

    private static func checkFree(_ port: Int) throws(EphemeralPostgresError) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw EphemeralPostgresError(step: "socket", output: String(cString: strerror(errno))) }
        defer { close(fd) }
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
            throw EphemeralPostgresError(step: "bind \(port)", output: String(cString: strerror(errno)))
        }
    }
}
