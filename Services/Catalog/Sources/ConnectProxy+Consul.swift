import MeshCore
import MeshProto
import MeshRPC
import SwiftProtobuf

/// Consul's `Proxy` and `Connect` blocks as the gRPC contract carries them, read from and
/// written as Consul's JSON. The REST API stores the block a client sent as sent (Consul clients
/// read back what they wrote), once it has read as this type: a field of the wrong type is
/// refused with its path, as Consul's decoder refuses it.
extension Mesh_V1_ConnectProxy {
    init(consul object: LenientObject) throws(ValidationError) {
        self.init()
        self.destinationServiceName = try object.string("DestinationServiceName") ?? ""
        self.destinationServiceID = try object.string("DestinationServiceID") ?? ""
        self.localServiceAddress = try object.string("LocalServiceAddress") ?? ""
        self.localServicePort = try object.port("LocalServicePort")
        self.localServiceSocketPath = try object.string("LocalServiceSocketPath") ?? ""
        self.mode = try object.string("Mode") ?? ""
        self.upstreams = try (object.objectArray("Upstreams") ?? []).map { item throws(ValidationError) in
            try Mesh_V1_ProxyUpstream(consul: item)
        }
        if let config = try object.opaque("Config") { self.config = config }
        if let gateway = try object.object("MeshGateway") { self.meshGateway = try .init(consul: gateway) }
        if let expose = try object.object("Expose") {
            self.expose = Mesh_V1_ExposeConfig()
            self.expose.checks = try expose.bool("Checks") ?? false
            self.expose.paths = try (expose.objectArray("Paths") ?? []).map { path throws(ValidationError) in
                var result = Mesh_V1_ExposePath()
                result.listenerPort = try path.port("ListenerPort")
                result.path = try path.string("Path") ?? ""
                result.localPathPort = try path.port("LocalPathPort")
                result.protocol = try path.string("Protocol") ?? ""
                return result
            }
        }
    }

    /// The block as Consul renders it.
    var consulJSON: JSONValue {
        var object: [String: JSONValue] = [
            "Mode": .string(self.mode),
            "MeshGateway": self.meshGateway.consulJSON,
            "Expose": .object([:]),
        ]
        object["DestinationServiceName"] = .nonEmpty(self.destinationServiceName)
        object["DestinationServiceID"] = .nonEmpty(self.destinationServiceID)
        object["LocalServiceAddress"] = .nonEmpty(self.localServiceAddress)
        object["LocalServiceSocketPath"] = .nonEmpty(self.localServiceSocketPath)
        if self.localServicePort > 0 { object["LocalServicePort"] = .number(Double(self.localServicePort)) }
        if !self.upstreams.isEmpty { object["Upstreams"] = .array(self.upstreams.map(\.consulJSON)) }
        if self.hasConfig { object["Config"] = JSONValue(self.config) }
        if self.hasExpose {
            var expose: [String: JSONValue] = [:]
            if self.expose.checks { expose["Checks"] = .bool(true) }
            if !self.expose.paths.isEmpty {
                expose["Paths"] = .array(
                    self.expose.paths.map { path in
                        var object: [String: JSONValue] = ["Path": .string(path.path)]
                        object["ListenerPort"] = .number(Double(path.listenerPort))
                        object["LocalPathPort"] = .number(Double(path.localPathPort))
                        object["Protocol"] = .nonEmpty(path.protocol)
                        return .object(object)
                    }
                )
            }
            object["Expose"] = .object(expose)
        }
        return .object(object)
    }
}

extension Mesh_V1_ProxyUpstream {
    init(consul object: LenientObject) throws(ValidationError) {
        self.init()
        self.destinationType = try object.string("DestinationType") ?? ""
        self.destinationNamespace = try object.string("DestinationNamespace") ?? ""
        self.destinationPartition = try object.string("DestinationPartition") ?? ""
        self.destinationPeer = try object.string("DestinationPeer") ?? ""
        self.destinationName = try object.string("DestinationName") ?? ""
        self.datacenter = try object.string("Datacenter") ?? ""
        self.localBindAddress = try object.string("LocalBindAddress") ?? ""
        self.localBindPort = try object.port("LocalBindPort")
        self.localBindSocketPath = try object.string("LocalBindSocketPath") ?? ""
        if let config = try object.opaque("Config") { self.config = config }
        if let gateway = try object.object("MeshGateway") { self.meshGateway = try .init(consul: gateway) }
        self.centrallyConfigured = try object.bool("CentrallyConfigured") ?? false
    }

    var consulJSON: JSONValue {
        var object: [String: JSONValue] = [
            "DestinationType": .string(self.destinationType.isEmpty ? "service" : self.destinationType),
            "DestinationName": .string(self.destinationName),
            "LocalBindPort": .number(Double(self.localBindPort)),
            "MeshGateway": self.meshGateway.consulJSON,
        ]
        object["DestinationNamespace"] = .nonEmpty(self.destinationNamespace)
        object["DestinationPartition"] = .nonEmpty(self.destinationPartition)
        object["DestinationPeer"] = .nonEmpty(self.destinationPeer)
        object["Datacenter"] = .nonEmpty(self.datacenter)
        object["LocalBindAddress"] = .nonEmpty(self.localBindAddress)
        object["LocalBindSocketPath"] = .nonEmpty(self.localBindSocketPath)
        if self.hasConfig { object["Config"] = JSONValue(self.config) }
        if self.centrallyConfigured { object["CentrallyConfigured"] = .bool(true) }
        return .object(object)
    }
}

extension Mesh_V1_MeshGatewayConfig {
    init(consul object: LenientObject) throws(ValidationError) {
        self.init()
        self.mode = try object.string("Mode") ?? ""
    }

    var consulJSON: JSONValue {
        self.mode.isEmpty ? .object([:]) : .object(["Mode": .string(self.mode)])
    }
}

extension Mesh_V1_ServiceConnect {
    init(consul object: LenientObject) throws(ValidationError) {
        self.init()
        self.native = try object.bool("Native") ?? false
    }

    var consulJSON: JSONValue {
        self.native ? .object(["Native": .bool(true)]) : .object([:])
    }
}

extension LenientObject {
    /// A TCP port: an integer from 0 to 65535.
    fileprivate func port(_ key: String) throws(ValidationError) -> UInt32 {
        guard let value = try self.int(key) else { return 0 }
        guard (0...65535).contains(value) else {
            throw ValidationError(
                field: self.path.isEmpty ? key : "\(self.path).\(key)",
                reason: "expected a port (0-65535)"
            )
        }
        return UInt32(value)
    }

    /// A free-form object (Consul's `Config` maps).
    fileprivate func opaque(_ key: String) throws(ValidationError) -> Google_Protobuf_Struct? {
        guard let value = self.raw(key) else { return nil }
        guard case .object(let fields) = value else {
            throw ValidationError(field: self.path.isEmpty ? key : "\(self.path).\(key)", reason: "expected an object")
        }
        return Google_Protobuf_Struct(fields: fields.mapValues(Google_Protobuf_Value.init))
    }
}

extension Google_Protobuf_Value {
    init(_ value: JSONValue) {
        switch value {
        case .null: self.init(nilLiteral: ())
        case .bool(let bool): self.init(boolValue: bool)
        case .number(let number): self.init(numberValue: number)
        case .string(let string): self.init(stringValue: string)
        case .array(let items): self.init(listValue: Google_Protobuf_ListValue(values: items.map(Self.init)))
        case .object(let fields): self.init(structValue: Google_Protobuf_Struct(fields: fields.mapValues(Self.init)))
        }
    }
}

extension JSONValue {
    init(_ value: Google_Protobuf_Struct) {
        self = .object(value.fields.mapValues(JSONValue.init))
    }

    init(_ value: Google_Protobuf_Value) {
        switch value.kind {
        case .nullValue, nil: self = .null
        case .boolValue(let bool): self = .bool(bool)
        case .numberValue(let number): self = .number(number)
        case .stringValue(let string): self = .string(string)
        case .listValue(let list): self = .array(list.values.map(JSONValue.init))
        case .structValue(let object): self = JSONValue(object)
        }
    }

    /// The string, or nil (the key left out) when it is empty.
    fileprivate static func nonEmpty(_ string: String) -> JSONValue? {
        string.isEmpty ? nil : .string(string)
    }
}
