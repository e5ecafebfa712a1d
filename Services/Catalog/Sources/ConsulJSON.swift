import MeshCore
import MeshProto
import MeshRPC

/// The catalog's objects in Consul's JSON shapes (field names and casing as Consul's HTTP API v1).
enum ConsulJSON {
    static func strings(_ values: [String]) -> JSONValue { .array(values.map(JSONValue.string)) }

    static func stringMap(_ values: [String: String]) -> JSONValue { .object(values.mapValues(JSONValue.string)) }

    static func number(_ value: some BinaryInteger) -> JSONValue { .number(Double(value)) }

    static func node(_ node: CatalogNode) -> JSONValue {
        .object([
            "ID": .string(node.id),
            "Node": .string(node.name),
            "Address": .string(node.address),
            "Datacenter": .string(node.datacenter),
            "TaggedAddresses": Self.stringMap(node.taggedAddresses),
            "Meta": Self.stringMap(node.meta),
            "CreateIndex": Self.number(node.createIndex),
            "ModifyIndex": Self.number(node.modifyIndex),
        ])
    }

    static func weights(_ weights: ServiceWeights) -> JSONValue {
        .object(["Passing": Self.number(weights.passing), "Warning": Self.number(weights.warning)])
    }

    static let emptyProxy: JSONValue = .object([
        "Mode": .string(""), "MeshGateway": .object([:]), "Expose": .object([:]),
    ])

    /// A `NodeService` (inside health entries and `/v1/catalog/node/:node`).
    static func nodeService(_ service: ServiceInstance) -> JSONValue {
        var object: [String: JSONValue] = [
            "ID": .string(service.id),
            "Service": .string(service.name),
            "Tags": Self.strings(service.tags),
            "Address": .string(service.address),
            "Meta": Self.stringMap(service.meta),
            "Port": Self.number(service.port),
            "Weights": Self.weights(service.weights),
            "EnableTagOverride": .bool(service.enableTagOverride),
            "Proxy": service.proxy ?? Self.emptyProxy,
            "Connect": service.connect ?? .object([:]),
            "PeerName": .string(""),
            "CreateIndex": Self.number(service.createIndex),
            "ModifyIndex": Self.number(service.modifyIndex),
        ]
        if !service.kind.isEmpty { object["Kind"] = .string(service.kind) }
        if !service.taggedAddresses.isEmpty { object["TaggedAddresses"] = .object(service.taggedAddresses) }
        return .object(object)
    }

    /// A `ServiceNode` (`/v1/catalog/service/:service`): the instance flattened with its node.
    static func catalogService(_ entry: ServiceHealth) -> JSONValue {
        let service = entry.service
        var object: [String: JSONValue] = [
            "ID": .string(entry.node.id),
            "Node": .string(entry.node.name),
            "Address": .string(entry.node.address),
            "Datacenter": .string(entry.node.datacenter),
            "TaggedAddresses": Self.stringMap(entry.node.taggedAddresses),
            "NodeMeta": Self.stringMap(entry.node.meta),
            "ServiceKind": .string(service.kind),
            "ServiceID": .string(service.id),
            "ServiceName": .string(service.name),
            "ServiceTags": Self.strings(service.tags),
            "ServiceAddress": .string(service.address),
            "ServiceWeights": Self.weights(service.weights),
            "ServiceMeta": Self.stringMap(service.meta),
            "ServicePort": Self.number(service.port),
            "ServiceSocketPath": .string(""),
            "ServiceEnableTagOverride": .bool(service.enableTagOverride),
            "ServiceProxy": service.proxy ?? Self.emptyProxy,
            "ServiceConnect": service.connect ?? .object([:]),
            "CreateIndex": Self.number(service.createIndex),
            "ModifyIndex": Self.number(service.modifyIndex),
        ]
        if !service.taggedAddresses.isEmpty { object["ServiceTaggedAddresses"] = .object(service.taggedAddresses) }
        return .object(object)
    }

    static func check(_ check: HealthCheck) -> JSONValue {
        let definition = check.definition
        var def: [String: JSONValue] = [:]
        if !definition.http.isEmpty { def["HTTP"] = .string(definition.http) }
        if !definition.method.isEmpty { def["Method"] = .string(definition.method) }
        if definition.tlsSkipVerify { def["TLSSkipVerify"] = .bool(true) }
        if !definition.tcp.isEmpty { def["TCP"] = .string(definition.tcp) }
        if !definition.grpc.isEmpty { def["GRPC"] = .string(definition.grpc) }
        if definition.grpcUseTLS { def["GRPCUseTLS"] = .bool(true) }
        if let interval = definition.interval { def["Interval"] = .string(GoDuration.format(interval)) }
        if let timeout = definition.timeout { def["Timeout"] = .string(GoDuration.format(timeout)) }
        if let after = definition.deregisterCriticalServiceAfter {
            def["DeregisterCriticalServiceAfter"] = .string(GoDuration.format(after))
        }
        // Consul emits the TTL as integer nanoseconds.
        if let ttl = definition.ttl { def["TTL"] = .number(Double(ttl.totalNanoseconds)) }
        return .object([
            "Node": .string(check.node),
            "CheckID": .string(check.checkID),
            "Name": .string(check.name),
            "Status": .string(check.status.rawValue),
            "Notes": .string(check.notes),
            "Output": .string(check.output),
            "ServiceID": .string(check.serviceID),
            "ServiceName": .string(check.serviceName),
            "ServiceTags": Self.strings(check.serviceTags),
            "Type": .string(check.type),
            "Interval": .string(definition.interval.map(GoDuration.format) ?? ""),
            "Timeout": .string(definition.timeout.map(GoDuration.format) ?? ""),
            "ExposedPort": .number(0),
            "Definition": .object(def),
            "CreateIndex": Self.number(check.createIndex),
            "ModifyIndex": Self.number(check.modifyIndex),
        ])
    }

    static func health(_ entry: ServiceHealth) -> JSONValue {
        .object([
            "Node": Self.node(entry.node),
            "Service": Self.nodeService(entry.service),
            "Checks": .array(entry.checks.map(Self.check)),
        ])
    }
}

/// Reading Consul's request bodies into domain values.
enum ConsulRequest {
    /// A `/v1/catalog/register` body. Keys match without regard to case, as Consul's decoder does.
    static func registration(_ body: JSONValue) throws(ValidationError) -> Registration {
        let object = try LenientObject(body)
        let nodeName = try object.string("Node") ?? ""
        let node = CatalogNode(
            name: nodeName,
            id: try object.string("ID") ?? "",
            address: try object.string("Address") ?? "",
            datacenter: try object.string("Datacenter") ?? "",
            taggedAddresses: try object.stringMap("TaggedAddresses") ?? [:],
            meta: try object.stringMap("NodeMeta") ?? [:]
        )
        var service: ServiceInstance?
        if let body = try object.object("Service") {
            service = try Self.service(body, node: nodeName)
        }
        var checks: [HealthCheck] = []
        if let check = try object.object("Check") { checks.append(try Self.check(check, node: nodeName)) }
        for check in try object.objectArray("Checks") ?? [] { checks.append(try Self.check(check, node: nodeName)) }
        return Registration(
            node: node,
            service: service,
            checks: checks,
            skipNodeUpdate: try object.bool("SkipNodeUpdate") ?? false
        )
    }

    static func service(_ object: LenientObject, node: String) throws(ValidationError) -> ServiceInstance {
        var weights = ServiceWeights()
        if let body = try object.object("Weights") {
            weights.passing = try body.int("Passing") ?? 1
            weights.warning = try body.int("Warning") ?? 1
        }
        var tagged: [String: JSONValue] = [:]
        if let raw = object.raw("TaggedAddresses") {
            guard case .object(let value) = raw else {
                throw ValidationError(field: "Service.TaggedAddresses", reason: "expected an object")
            }
            tagged = value
        }
        let name = try object.string("Service") ?? ""
        // Kept as sent, once they read as Consul's types (a wrong type is refused, naming the field).
        if let proxy = try object.object("Proxy") { _ = try Mesh_V1_ConnectProxy(consul: proxy) }
        if let connect = try object.object("Connect") { _ = try Mesh_V1_ServiceConnect(consul: connect) }
        return ServiceInstance(
            node: node,
            id: try object.string("ID") ?? "",
            name: name,
            tags: try object.stringArray("Tags") ?? [],
            address: try object.string("Address") ?? "",
            port: try object.int("Port") ?? 0,
            meta: try object.stringMap("Meta") ?? [:],
            kind: try object.string("Kind") ?? "",
            taggedAddresses: tagged,
            weights: weights,
            enableTagOverride: try object.bool("EnableTagOverride") ?? false,
            proxy: object.raw("Proxy"),
            connect: object.raw("Connect")
        )
    }

    static func check(_ object: LenientObject, node: String) throws(ValidationError) -> HealthCheck {
        var status = CheckStatus.critical
        if let text = try object.string("Status"), !text.isEmpty {
            guard let parsed = CheckStatus(rawValue: text) else {
                throw ValidationError(
                    field: "\(object.path).Status",
                    reason: "must be passing, warning or critical, got \"\(text)\""
                )
            }
            status = parsed
        }
        var definition = CheckDefinition()
        if let body = try object.object("Definition") {
            definition = CheckDefinition(
                ttl: try body.duration("TTL"),
                interval: try body.duration("Interval"),
                timeout: try body.duration("Timeout"),
                deregisterCriticalServiceAfter: try body.duration("DeregisterCriticalServiceAfter"),
                http: try body.string("HTTP") ?? "",
                method: try body.string("Method") ?? "",
                tcp: try body.string("TCP") ?? "",
                grpc: try body.string("GRPC") ?? "",
                grpcUseTLS: try body.bool("GRPCUseTLS") ?? false,
                tlsSkipVerify: try body.bool("TLSSkipVerify") ?? false
            )
        }
        return HealthCheck(
            node: try object.string("Node") ?? node,
            checkID: try object.string("CheckID") ?? "",
            name: try object.string("Name") ?? "",
            status: status,
            notes: try object.string("Notes") ?? "",
            output: try object.string("Output") ?? "",
            serviceID: try object.string("ServiceID") ?? "",
            type: try object.string("Type") ?? "",
            definition: definition
        )
    }

    /// A `/v1/catalog/deregister` body: ServiceID wins over CheckID, which wins over the whole node.
    static func deregistration(_ body: JSONValue) throws(ValidationError) -> Deregistration {
        let object = try LenientObject(body)
        guard let node = try object.string("Node"), !node.isEmpty else {
            throw ValidationError(field: "Node", reason: "missing node name")
        }
        if let serviceID = try object.string("ServiceID"), !serviceID.isEmpty {
            return .service(node: node, serviceID: serviceID)
        }
        if let checkID = try object.string("CheckID"), !checkID.isEmpty {
            return .check(node: node, checkID: checkID)
        }
        return .node(node)
    }
}
