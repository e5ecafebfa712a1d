/// Where a service is reached: one address (a load balancer's or a DNS name), or the addresses of
/// its replicas when nothing balances in front of them (`host:port[,host:port...]`); a client
/// spreads its calls over them and moves on from a replica that stops.
public struct ServiceAddress: Sendable, Hashable, CustomStringConvertible {
    public var replicas: [HostPort]

    public init(_ replicas: [HostPort]) {
        precondition(!replicas.isEmpty, "a service address needs at least one host:port")
        self.replicas = replicas
    }

    public init(_ address: HostPort) {
        self.replicas = [address]
    }

    /// Parses `host:port[,host:port...]`; nil when empty or when any part is not a `host:port`.
    public init?(parsing text: String) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
            HostPort(parsing: String($0.drop { $0 == " " }))
        }
        guard !parts.isEmpty, !parts.contains(where: { $0 == nil }) else { return nil }
        self.replicas = parts.compactMap { $0 }
    }

    /// The first replica (the one address, when there is one).
    public var first: HostPort { self.replicas[0] }

    /// The replicas as gRPC targets take them.
    public var pairs: [(host: String, port: Int)] { self.replicas.map { (host: $0.host, port: $0.port) } }

    public var description: String { self.replicas.map(\.description).joined(separator: ",") }
}

extension SettingResolver {
    /// A `host:port[,host:port...]` setting (a service's address, or its replicas'); errors name
    /// both the flag and the variable.
    public func serviceAddress(
        flag: String?,
        flagName: String,
        variable: String,
        default defaultValue: String
    ) throws(SettingError) -> ServiceAddress {
        try self.parsed(
            flag: flag,
            flagName: flagName,
            variable: variable,
            default: defaultValue,
            as: "host:port[,host:port...]"
        ) { ServiceAddress(parsing: $0) }
    }
}
