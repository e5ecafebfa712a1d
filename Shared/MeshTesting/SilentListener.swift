import Glibc
import Synchronization

/// A listening socket on 127.0.0.1 that nobody accepts from: the kernel completes TCP handshakes
/// and queues the connections; nothing ever answers on them. Closing it resets the queued ones,
/// as a stopping server's listener does to connections still in its backlog.
///
/// For tests of peers that never speak, and of connections lost before the server took them.
public final class SilentListener: Sendable {
    public let port: Int
    private let fd: Mutex<Int32?>

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SilentListenerError(reason: String(cString: strerror(errno))) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw SilentListenerError(reason: reason)
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = Mutex(fd)
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Waits (polling the socket, which is readable while a connection is queued) until someone
    /// has connected; false if nobody did within `deadline`.
    public func waitForConnection(deadline: Duration) async throws -> Bool {
        let end = ContinuousClock.now.advanced(by: deadline)
        while ContinuousClock.now < end {
            let queued = self.fd.withLock { fd -> Bool in
                guard let fd else { return false }
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                return poll(&entry, 1, 0) > 0 && entry.revents & Int16(POLLIN) != 0
            }
            if queued { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Closes the socket: the connections still queued are reset.
    public func close() {
        self.fd.withLock { fd in
            if let open = fd { Glibc.close(open) }
            fd = nil
        }
    }

    deinit {
        self.close()
    }
}

public struct SilentListenerError: Error {
    public let reason: String
}
