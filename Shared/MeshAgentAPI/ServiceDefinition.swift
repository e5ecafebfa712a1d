public import MeshCore
import MeshRPC

/// A service registered through the local agent API (`PUT /v1/agent/service/register`), with
/// its checks, as Consul's agent keeps it in its local state.
public struct ServiceDefinition: Sendable, Equatable {
    public var kind: String
    public var id: String
    public var name: String
    public var tags: [String]
    public var meta: [String: String]
    public var port: Int
    public var address: String
    public var checks: [AgentCheckDefinition]
    /// The `Proxy` block of a `connect-proxy`, passed to the catalog as it came.
    public var proxy: JSONValue?
    /// For a sidecar registered with its service (`Connect.SidecarService`), that service's
    /// ID: deregistering the service deregisters the sidecar too.
    public var parentID: String?

    public init(
        kind: String = "",
        id: String,
        name: String,
        tags: [String] = [],
        meta: [String: String] = [:],
        port: Int,
        address: String = "",
        checks: [AgentCheckDefinition] = [],
        proxy: JSONValue? = nil
    ) {
        self.kind = kind
        self.id = id
        self.name = name
        self.tags = tags
        self.meta = meta
        self.port = port
        self.address = address
        self.checks = checks
        self.proxy = proxy
    }
}

/// One check of a local service: a TTL the application passes, or an HTTP, TCP or gRPC probe the agent runs.
public struct AgentCheckDefinition: Sendable, Equatable {
    public enum Probe: Sendable, Equatable {
        case ttl(Duration)
        case http(url: String, interval: Duration)
        case tcp(address: String, interval: Duration)
        case grpc(GRPCHealthCheck, interval: Duration)
    }

    public var id: String
    public var name: String
    public var serviceID: String
    public var probe: Probe
    /// The status it starts with (Consul: critical unless the definition says otherwise).
    public var initialStatus: String
    public var deregisterCriticalServiceAfter: String?

    /// Consul's check `Type`.
    public var type: String {
        switch self.probe {
        case .ttl: "ttl"
        case .http: "http"
        case .tcp: "tcp"
        case .grpc: "grpc"
        }
    }
}

/// Why a definition was refused: the plain-text 400 Consul's agent answers.
public struct DefinitionError: Error, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension ServiceDefinition {
    /// Consul's `ServiceDefinition` keys (any case; `checks` and `check` both read).
    static let knownKeys: Set<String> = [
        "kind", "id", "name", "tags", "address", "taggedaddresses", "tagged_addresses", "meta", "port",
        "socketpath", "check", "checks", "weights", "token", "enabletagoverride", "enable_tag_override", "proxy",
        "connect", "locality", "namespace", "partition",
    ]
    static let checkKeys: Set<String> = [
        "checkid", "name", "status", "notes", "scriptargs", "args", "script_args", "http", "h2ping", "h2pingusetls",
        "header", "method", "body", "disableredirects", "tcp", "udp", "interval", "aliasnode", "aliasservice",
        "dockercontainerid", "docker_container_id", "shell", "grpc", "grpcusetls", "grpc_use_tls", "osservice",
        "tlsservername", "tls_server_name", "tlsskipverify", "tls_skip_verify", "timeout", "ttl",
        "successbeforepassing", "failuresbeforewarning", "failuresbeforecritical", "proxyhttp", "proxygrpc",
        "deregistercriticalserviceafter", "deregister_critical_service_after", "outputmaxsize", "serviceid",
        "service_id", "id",
    ]

    /// Reads a register body the way Consul's agent does: unknown keys refused, `Name` required,
    /// `ID` defaulting to the name, each check validated; check IDs `service:<id>` (numbered
    /// `service:<id>:<n>` when there are several), names `Service '<name>' check`.
    public static func parse(_ value: JSONValue) throws(DefinitionError) -> ServiceDefinition {
        guard case .object(let raw) = value else { throw DefinitionError("Request decode failed: expected an object") }
        if let unknown = raw.keys.first(where: { !Self.knownKeys.contains($0.lowercased()) }) {
            throw DefinitionError("Request decode failed: json: unknown field \"\(unknown)\"")
        }
        do {
            let object = try LenientObject(value)
            guard let name = try object.string("Name"), !name.isEmpty else {
                throw DefinitionError("Missing service name")
            }
            let address = try object.string("Address") ?? ""
            if ["0.0.0.0", "::", "[::]"].contains(address) { throw DefinitionError("Invalid service address") }
            let id = try object.string("ID").flatMap { $0.isEmpty ? nil : $0 } ?? name
            var checkValues: [JSONValue] = []
            if let single = object.raw("Check"), case .object(let fields) = single, !fields.isEmpty {
                checkValues.append(single)
            }
            if let many = object.raw("Checks") {
                guard case .array(let values) = many else {
                    throw DefinitionError("Invalid check: Checks must be a list")
                }
                checkValues += values
            }
            var checks: [AgentCheckDefinition] = []
            for (index, check) in checkValues.enumerated() {
                let defaultID = checkValues.count > 1 ? "service:\(id):\(index + 1)" : "service:\(id)"
                checks.append(try AgentCheckDefinition.parse(check, defaultID: defaultID, service: (id, name)))
            }
            let port = try object.int("Port") ?? 0
            guard (0...65535).contains(port) else { throw DefinitionError("Invalid service port: \(port)") }
            return ServiceDefinition(
                kind: try object.string("Kind") ?? "",
                id: id,
                name: name,
                tags: try object.stringArray("Tags") ?? [],
                meta: try object.stringMap("Meta") ?? [:],
                port: port,
                address: address,
                checks: checks,
                proxy: object.raw("Proxy")
            )
        } catch let error as DefinitionError {
            throw error
        } catch {
            throw DefinitionError("Request decode failed: \(error)")
        }
    }
}

extension AgentCheckDefinition {
    static func parse(
        _ value: JSONValue,
        defaultID: String,
        service: (id: String, name: String)
    ) throws(DefinitionError) -> AgentCheckDefinition {
        guard case .object(let raw) = value else { throw DefinitionError("Invalid check: expected an object") }
        if let unknown = raw.keys.first(where: { !ServiceDefinition.checkKeys.contains($0.lowercased()) }) {
            throw DefinitionError("Request decode failed: json: unknown field \"\(unknown)\"")
        }
        do {
            let object = try LenientObject(value)
            func duration(_ key: String) throws -> Duration? {
                guard let text = try object.string(key), !text.isEmpty else { return nil }
                guard let value = GoDuration.parse(text) else {
                    throw DefinitionError("Request decode failed: time: invalid duration \"\(text)\"")
                }
                return value
            }
            let ttl = try duration("TTL")
            let interval = try duration("Interval")
            if ttl != nil && interval != nil {
                throw DefinitionError("Invalid check: Interval and TTL cannot both be specified")
            }
            let probe: Probe
            if let url = try object.string("HTTP"), !url.isEmpty {
                guard let interval, interval > .zero else {
                    throw DefinitionError(
                        "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"
                    )
                }
                probe = .http(url: url, interval: interval)
            } else if let address = try object.string("TCP"), !address.isEmpty {
                guard let interval, interval > .zero else {
                    throw DefinitionError(
                        "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"
                    )
                }
                probe = .tcp(address: address, interval: interval)
            } else if let target = try object.string("GRPC"), !target.isEmpty {
                guard let interval, interval > .zero else {
                    throw DefinitionError(
                        "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"
                    )
                }
                let check = GRPCHealthCheck(
                    target: target,
                    useTLS: try object.bool("GRPCUseTLS") ?? object.bool("grpc_use_tls") ?? false,
                    skipVerify: try object.bool("TLSSkipVerify") ?? object.bool("tls_skip_verify") ?? false,
                    serverName: try object.string("TLSServerName") ?? object.string("tls_server_name")
                )
                guard check.parsed != nil else {
                    throw DefinitionError("Invalid check: GRPC must be host:port[/service], got \"\(target)\"")
                }
                probe = .grpc(check, interval: interval)
            } else if let ttl, ttl > .zero {
                probe = .ttl(ttl)
            } else if object.raw("ScriptArgs") != nil || object.raw("Args") != nil
                || object.raw("DockerContainerID") != nil || object.raw("AliasService") != nil
            {
                throw DefinitionError("Invalid check: only TTL, HTTP, TCP and gRPC checks are supported by mesh-agent")
            } else {
                throw DefinitionError("Invalid check: TTL must be > 0 for TTL checks")
            }
            let status = try object.string("Status") ?? ""
            guard ["", "passing", "warning", "critical"].contains(status) else {
                throw DefinitionError("Status for checks must 'passing', 'warning', 'critical'")
            }
            return AgentCheckDefinition(
                id: try (object.string("CheckID") ?? object.string("ID")).flatMap { $0.isEmpty ? nil : $0 }
                    ?? defaultID,
                name: try object.string("Name").flatMap { $0.isEmpty ? nil : $0 } ?? "Service '\(service.name)' check",
                serviceID: service.id,
                probe: probe,
                initialStatus: status.isEmpty ? "critical" : status,
                deregisterCriticalServiceAfter: try object.string("DeregisterCriticalServiceAfter")
            )
        } catch let error as DefinitionError {
            throw error
        } catch {
            throw DefinitionError("Request decode failed: \(error)")
        }
    }
}
