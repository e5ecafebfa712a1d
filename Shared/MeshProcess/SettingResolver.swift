import MeshCore

/// Resolves a setting from its flag, then its `MESH_*` environment variable, then a default.
///
/// Parsing happens once, in `main`; nothing deeper reads the process environment.
public struct SettingResolver: Sendable {
    public let environment: [String: String]

    public init(environment: [String: String]) {
        self.environment = environment
    }

    /// The flag's value, else the variable's, else nil.
    public func string(flag: String?, variable: String) -> String? {
        if let flag, !flag.isEmpty { return flag }
        if let value = self.environment[variable], !value.isEmpty { return value }
        return nil
    }

    /// A `host:port` setting; errors name both the flag and the variable.
    public func address(
        flag: String?,
        flagName: String,
        variable: String,
        default defaultValue: String
    ) throws(SettingError) -> HostPort {
        try self.parsed(flag: flag, flagName: flagName, variable: variable, default: defaultValue, as: "host:port") {
            HostPort(parsing: $0)
        }
    }

    /// A setting (the flag, else the variable, else `defaultValue`) read by `parse`; refused
    /// naming both settings and what was `expected` when it cannot be.
    func parsed<Value>(
        flag: String?,
        flagName: String,
        variable: String,
        default defaultValue: String,
        as expected: String,
        _ parse: (String) -> Value?
    ) throws(SettingError) -> Value {
        let text = self.string(flag: flag, variable: variable) ?? defaultValue
        guard let value = parse(text) else {
            throw SettingError(setting: "\(flagName) / \(variable)", reason: "expected \(expected), got \"\(text)\"")
        }
        return value
    }

    /// A Go-style duration setting ("10s", "5m").
    public func duration(
        flag: String?,
        flagName: String,
        variable: String,
        default defaultValue: Duration
    ) throws(SettingError) -> Duration {
        guard let text = self.string(flag: flag, variable: variable) else { return defaultValue }
        guard let value = GoDuration.parse(text) else {
            throw SettingError(
                setting: "\(flagName) / \(variable)",
                reason: "expected a duration like 10s, got \"\(text)\""
            )
        }
        return value
    }
}

/// A flag or variable whose value cannot be used.
extension SettingResolver {
    /// Plain HTTP is served on loopback only (as `consul agent -dev` does), unless
    /// `MESH_ALLOW_PLAIN_HTTP=1` says a TLS-terminating load balancer sits in front.
    public func requireLoopbackForPlainHTTP(_ address: HostPort) throws {
        guard address.isLoopback || self.environment["MESH_ALLOW_PLAIN_HTTP"] == "1" else {
            throw SettingError(
                setting: "--http-addr / MESH_HTTP_ADDR",
                reason: "plain HTTP is only served on loopback (set MESH_ALLOW_PLAIN_HTTP=1 behind a TLS load balancer)"
            )
        }
    }
}

extension SettingResolver {
    /// gRPC without TLS is served on loopback only: other components reach a service across the
    /// network, and their tokens must not cross it in the clear.
    public func requireLoopbackForPlainGRPC(_ address: HostPort) throws {
        guard address.isLoopback else {
            throw SettingError(
                setting: "--grpc-addr / MESH_GRPC_ADDR",
                reason: "plaintext gRPC is only served on loopback; give --tls-cert-file, --tls-key-file and "
                    + "--tls-ca-file to listen on \(address)"
            )
        }
    }
}

public struct SettingError: Error, Sendable, CustomStringConvertible {
    public var setting: String
    public var reason: String

    public init(setting: String, reason: String) {
        self.setting = setting
        self.reason = reason
    }

    public var description: String { "\(self.setting): \(self.reason)" }
}
