public import GRPCNIOTransportHTTP2Posix

/// One place that turns addresses into a gRPC client target: an IPv4 or IPv6 literal is dialled
/// as is, a name is resolved by DNS, and several IPv4 replicas become one target (with round robin
/// the client keeps a connection to each).
public enum GRPCTarget {
    public static func of(_ replicas: [(host: String, port: Int)]) -> any ResolvableTarget {
        let first = replicas.first ?? (host: "127.0.0.1", port: 0)
        if replicas.count > 1, replicas.allSatisfy({ Self.isIPv4($0.host) }) {
            return .ipv4(pairs: replicas)
        }
        if Self.isIPv4(first.host) { return .ipv4(address: first.host, port: first.port) }
        if first.host.contains(":") { return .ipv6(address: first.host, port: first.port) }
        return .dns(host: first.host, port: first.port)
    }

    static func isIPv4(_ host: String) -> Bool {
        !host.isEmpty && host.allSatisfy { $0.isNumber || $0 == "." }
    }

    /// Whether `host` names this machine's loopback (`localhost`, `127.0.0.0/8`, `::1`): the only
    /// place a client may speak plaintext gRPC.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || (Self.isIPv4(host) && host.hasPrefix("127."))
    }
}
