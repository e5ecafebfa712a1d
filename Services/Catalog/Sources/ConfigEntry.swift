import MeshCore
import MeshRPC
import MeshServer

/// A central configuration entry (Consul's `/v1/config`): `service-defaults` (a service's
/// protocol and proxy settings), `proxy-defaults` (the cluster's, named `global`) and `mesh`
/// (mesh-wide settings, named `mesh`).
struct ConfigEntry: Sendable, Equatable {
    var kind: ConfigEntryKind
    var name: String
    /// The entry's fields other than Kind and Name, under Consul's key names.
    var body: [String: JSONValue]
    var createIndex: ModifyIndex
    var modifyIndex: ModifyIndex

    /// Consul's JSON of the entry (a `mesh` entry has no `Name` there).
    var json: JSONValue {
        var object = self.body
        object["Kind"] = .string(self.kind.rawValue)
        if self.kind != .mesh { object["Name"] = .string(self.name) }
        object["CreateIndex"] = .number(Double(self.createIndex))
        object["ModifyIndex"] = .number(Double(self.modifyIndex))
        return .object(object)
    }

    /// The protocol the entry sets (`Protocol` of service-defaults, `Config.protocol` of
    /// proxy-defaults), lowercased; `fallback` when it sets none.
    func protocolName(default fallback: String?) -> String? {
        if case .string(let value)? = self.body["Protocol"], !value.isEmpty { return value.lowercased() }
        if case .object(let config)? = self.body["Config"], case .string(let value)? = config["protocol"],
            !value.isEmpty
        {
            return value.lowercased()
        }
        return fallback
    }
}

/// What the proxies need of the config entries: each service's protocol and the cluster default
/// (a service without `service-defaults`, or whose entry sets no protocol, speaks the default),
/// and the mesh entry's request normalization.
struct ProxyConfigEntries: Sendable, Equatable {
    var defaultProtocol: String
    var protocols: [String: String]
    var requestNormalization: RequestNormalization = .default

    /// Only the services the caller may read (no caller: ACLs off).
    func visible(to caller: ACLCaller?) -> ProxyConfigEntries {
        guard let caller else { return self }
        var copy = self
        copy.protocols = self.protocols.filter { caller.authorizer.serviceRead($0.key) }
        return copy
    }
}

/// The kinds implemented; others are refused as Consul refuses unknown ones.
enum ConfigEntryKind: String, Sendable, CaseIterable {
    case serviceDefaults = "service-defaults"
    case proxyDefaults = "proxy-defaults"
    case mesh = "mesh"

    /// `GET /v1/config/:kind` with a kind we do not know: Consul's message.
    static func parse(_ text: String) throws(ValidationError) -> ConfigEntryKind {
        guard let kind = ConfigEntryKind(rawValue: text.lowercased()) else {
            throw ValidationError(field: "Kind", reason: "invalid config entry kind: \(text)")
        }
        return kind
    }

    /// The fields each kind takes (Consul's names); any other is refused.
    var fields: [String] {
        let common = ["Meta", "Mode", "TransparentProxy", "MeshGateway", "Expose", "EnvoyExtensions"]
        switch self {
        case .serviceDefaults:
            return common + [
                "Protocol", "UpstreamConfig", "Destination", "MaxInboundConnections", "LocalConnectTimeoutMs",
                "LocalRequestTimeoutMs", "BalanceInboundConnections", "ExternalSNI", "RateLimits",
            ]
        case .proxyDefaults:
            return common + ["Config", "AccessLogs", "FailoverPolicy", "PrioritizeByLocality"]
        case .mesh:
            return [
                "Meta", "TransparentProxy", "AllowEnablingPermissiveMutualTLS", "ValidateClusters", "TLS", "HTTP",
                "Peering",
            ]
        }
    }
}

/// Reads and checks a `PUT /v1/config` body (keys in any case, as Consul's decoder).
enum ConfigEntryInput {
    static let protocols = ["tcp", "http", "http2", "grpc"]

    static func parse(_ value: JSONValue) throws(ValidationError) -> (ConfigEntryKind, String, [String: JSONValue]) {
        guard case .object(let raw) = value else {
            throw ValidationError(field: "body", reason: "expected a JSON object")
        }
        let object = try LenientObject(value)
        let kind = try ConfigEntryKind.parse(try object.string("Kind") ?? "")
        // A mesh entry has no name of its own in Consul: it is always "mesh".
        guard let name = try object.string("Name").flatMap({ $0.isEmpty ? nil : $0 }) ?? (kind == .mesh ? "mesh" : nil)
        else {
            throw ValidationError(field: "Name", reason: "config entry name is required")
        }
        if kind == .mesh && name != MeshConfigEntry.name {
            throw ValidationError(field: "Name", reason: "invalid name (\"\(name)\"), only \"mesh\" is supported")
        }
        if kind == .proxyDefaults && name != "global" {
            throw ValidationError(field: "Name", reason: "invalid name (\"\(name)\"), only \"global\" is supported")
        }
        let canonical = Dictionary(uniqueKeysWithValues: kind.fields.map { ($0.lowercased(), $0) })
        var body: [String: JSONValue] = [:]
        for (key, field) in raw {
            let lower = key.lowercased()
            if ["kind", "name", "createindex", "modifyindex"].contains(lower) { continue }
            if ["namespace", "partition"].contains(lower) {
                guard case .string(let text) = field, text.isEmpty || text == "default" else {
                    throw ValidationError(
                        field: key,
                        reason: "namespaces and partitions are a Consul Enterprise feature"
                    )
                }
                continue
            }
            guard let name = canonical[lower] else {
                throw ValidationError(field: key, reason: "invalid config key \"\(key)\" for \(kind.rawValue)")
            }
            if case .null = field { continue }
            body[name] = field
        }
        if let meta = body["Meta"] {
            guard case .object(let pairs) = meta,
                pairs.values.allSatisfy({ if case .string = $0 { true } else { false } })
            else {
                throw ValidationError(field: "Meta", reason: "expected an object of strings")
            }
        }
        if let mode = body["Mode"] {
            guard case .string(let text) = mode, ["", "direct", "transparent"].contains(text) else {
                throw ValidationError(field: "Mode", reason: "expected \"\", \"direct\" or \"transparent\"")
            }
        }
        if let value = body["Protocol"] {
            guard case .string(let text) = value, text.isEmpty || Self.protocols.contains(text.lowercased()) else {
                throw ValidationError(
                    field: "Protocol",
                    reason: "expected one of \(Self.protocols.joined(separator: ", "))"
                )
            }
            body["Protocol"] = .string(text.lowercased())
        }
        if let config = body["Config"] {
            guard case .object(let settings) = config else {
                throw ValidationError(field: "Config", reason: "expected an object")
            }
            if let value = settings["protocol"] {
                guard case .string(let text) = value, Self.protocols.contains(text.lowercased()) else {
                    throw ValidationError(
                        field: "Config.protocol",
                        reason: "expected one of \(Self.protocols.joined(separator: ", "))"
                    )
                }
            }
        }
        if kind == .mesh { try MeshConfigEntry.validate(body) }
        return (kind, name, body)
    }
}
