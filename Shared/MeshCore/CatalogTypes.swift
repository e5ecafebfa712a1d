/// The health of a check, in Consul's words.
public enum CheckStatus: String, Sendable, Codable, CaseIterable, Comparable {
    case passing
    case warning
    case critical

    /// Orders by severity, so `max` over checks gives an instance's aggregate status.
    public static func < (lhs: CheckStatus, rhs: CheckStatus) -> Bool {
        lhs.severity < rhs.severity
    }

    private var severity: Int {
        switch self {
        case .passing: 0
        case .warning: 1
        case .critical: 2
        }
    }
}

/// A node of the catalog: a host, VM or ECS task that runs service instances.
public struct CatalogNode: Sendable, Hashable, Codable {
    public var name: String
    public var id: String
    public var address: String
    public var datacenter: String
    public var taggedAddresses: [String: String]
    public var meta: [String: String]
    public var createIndex: ModifyIndex
    public var modifyIndex: ModifyIndex

    public init(
        name: String,
        id: String = "",
        address: String,
        datacenter: String = "",
        taggedAddresses: [String: String] = [:],
        meta: [String: String] = [:],
        createIndex: ModifyIndex = 0,
        modifyIndex: ModifyIndex = 0
    ) {
        self.name = name
        self.id = id
        self.address = address
        self.datacenter = datacenter
        self.taggedAddresses = taggedAddresses
        self.meta = meta
        self.createIndex = createIndex
        self.modifyIndex = modifyIndex
    }
}

/// Consul's DNS weights of an instance.
public struct ServiceWeights: Sendable, Hashable, Codable {
    public var passing: Int
    public var warning: Int

    public init(passing: Int = 1, warning: Int = 1) {
        self.passing = passing
        self.warning = warning
    }
}

/// One registered instance of a service on a node.
public struct ServiceInstance: Sendable, Hashable, Codable {
    public var node: String
    /// Unique on its node; defaults to the service name.
    public var id: String
    public var name: String
    public var tags: [String]
    public var address: String
    public var port: Int
    public var meta: [String: String]
    /// Consul's service kind: "" for a typical service, "connect-proxy", the gateway kinds.
    public var kind: String
    public var taggedAddresses: [String: JSONValue]
    public var weights: ServiceWeights
    public var enableTagOverride: Bool
    /// Consul's `Proxy` block (connect-proxy instances), kept verbatim.
    public var proxy: JSONValue?
    /// Consul's `Connect` block, kept verbatim.
    public var connect: JSONValue?
    public var createIndex: ModifyIndex
    public var modifyIndex: ModifyIndex

    public init(
        node: String,
        id: String,
        name: String,
        tags: [String] = [],
        address: String = "",
        port: Int = 0,
        meta: [String: String] = [:],
        kind: String = "",
        taggedAddresses: [String: JSONValue] = [:],
        weights: ServiceWeights = ServiceWeights(),
        enableTagOverride: Bool = false,
        proxy: JSONValue? = nil,
        connect: JSONValue? = nil,
        createIndex: ModifyIndex = 0,
        modifyIndex: ModifyIndex = 0
    ) {
        self.node = node
        self.id = id
        self.name = name
        self.tags = tags
        self.address = address
        self.port = port
        self.meta = meta
        self.kind = kind
        self.taggedAddresses = taggedAddresses
        self.weights = weights
        self.enableTagOverride = enableTagOverride
        self.proxy = proxy
        self.connect = connect
        self.createIndex = createIndex
        self.modifyIndex = modifyIndex
    }

    /// Whether the instance carries every tag in `required` (Consul's `?tag=` filter, repeatable).
    public func hasTags(_ required: [String]) -> Bool {
        required.allSatisfy { self.tags.contains($0) }
    }
}

/// How a check runs or is kept alive.
public struct CheckDefinition: Sendable, Hashable, Codable {
    /// A TTL check turns critical when no update arrives within this long.
    public var ttl: Duration?
    public var interval: Duration?
    public var timeout: Duration?
    /// Once the check has been critical this long, the leader deregisters its service instance.
    public var deregisterCriticalServiceAfter: Duration?
    public var http: String
    public var method: String
    public var tcp: String
    public var grpc: String
    public var grpcUseTLS: Bool
    public var tlsSkipVerify: Bool

    public init(
        ttl: Duration? = nil,
        interval: Duration? = nil,
        timeout: Duration? = nil,
        deregisterCriticalServiceAfter: Duration? = nil,
        http: String = "",
        method: String = "",
        tcp: String = "",
        grpc: String = "",
        grpcUseTLS: Bool = false,
        tlsSkipVerify: Bool = false
    ) {
        self.ttl = ttl
        self.interval = interval
        self.timeout = timeout
        self.deregisterCriticalServiceAfter = deregisterCriticalServiceAfter
        self.http = http
        self.method = method
        self.tcp = tcp
        self.grpc = grpc
        self.grpcUseTLS = grpcUseTLS
        self.tlsSkipVerify = tlsSkipVerify
    }

    /// The check type Consul reports for this definition ("ttl", "http", "tcp", "grpc", or "").
    public var inferredType: String {
        if self.ttl != nil { return "ttl" }
        if !self.http.isEmpty { return "http" }
        if !self.tcp.isEmpty { return "tcp" }
        if !self.grpc.isEmpty { return "grpc" }
        return ""
    }
}

/// A health check on a node (empty `serviceID`) or on one of its service instances.
public struct HealthCheck: Sendable, Hashable, Codable {
    public var node: String
    public var checkID: String
    public var name: String
    public var status: CheckStatus
    public var notes: String
    public var output: String
    public var serviceID: String
    public var serviceName: String
    public var serviceTags: [String]
    public var type: String
    public var definition: CheckDefinition
    public var createIndex: ModifyIndex
    public var modifyIndex: ModifyIndex

    public init(
        node: String,
        checkID: String,
        name: String,
        status: CheckStatus = .critical,
        notes: String = "",
        output: String = "",
        serviceID: String = "",
        serviceName: String = "",
        serviceTags: [String] = [],
        type: String = "",
        definition: CheckDefinition = CheckDefinition(),
        createIndex: ModifyIndex = 0,
        modifyIndex: ModifyIndex = 0
    ) {
        self.node = node
        self.checkID = checkID
        self.name = name
        self.status = status
        self.notes = notes
        self.output = output
        self.serviceID = serviceID
        self.serviceName = serviceName
        self.serviceTags = serviceTags
        self.type = type
        self.definition = definition
        self.createIndex = createIndex
        self.modifyIndex = modifyIndex
    }
}

/// An instance with its node and every check that bears on it (the node's own checks included).
public struct ServiceHealth: Sendable, Hashable {
    public var node: CatalogNode
    public var service: ServiceInstance
    public var checks: [HealthCheck]

    public init(node: CatalogNode, service: ServiceInstance, checks: [HealthCheck]) {
        self.node = node
        self.service = service
        self.checks = checks
    }

    /// The worst status among the checks; passing when there are none (Consul's rule).
    public var aggregateStatus: CheckStatus {
        self.checks.map(\.status).max() ?? .passing
    }
}

/// A node and the instances registered on it (`/v1/catalog/node/:node`).
public struct NodeServices: Sendable, Hashable {
    public var node: CatalogNode
    public var services: [ServiceInstance]

    public init(node: CatalogNode, services: [ServiceInstance]) {
        self.node = node
        self.services = services
    }
}

/// A registration: a node, optionally one instance on it, and checks (Consul's `/v1/catalog/register`).
public struct Registration: Sendable, Hashable {
    public var node: CatalogNode
    public var service: ServiceInstance?
    public var checks: [HealthCheck]
    /// Leave the node's own fields untouched; the node must already exist.
    public var skipNodeUpdate: Bool

    public init(
        node: CatalogNode,
        service: ServiceInstance? = nil,
        checks: [HealthCheck] = [],
        skipNodeUpdate: Bool = false
    ) {
        self.node = node
        self.service = service
        self.checks = checks
        self.skipNodeUpdate = skipNodeUpdate
    }
}

/// What a deregistration removes: a whole node, one instance of it, or one check of it.
public enum Deregistration: Sendable, Hashable {
    case node(String)
    case service(node: String, serviceID: String)
    case check(node: String, checkID: String)
}

extension CheckDefinition {
    enum CodingKeys: String, CodingKey {
        case ttlMs, intervalMs, timeoutMs, deregisterCriticalServiceAfterMs
        case http, method, tcp, grpc, grpcUseTLS, tlsSkipVerify
    }

    // Durations are stored as whole milliseconds, which the catalog's SQL reads directly.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func duration(_ key: CodingKeys) throws -> Duration? {
            try container.decodeIfPresent(Int64.self, forKey: key).map { .milliseconds($0) }
        }
        self.init(
            ttl: try duration(.ttlMs),
            interval: try duration(.intervalMs),
            timeout: try duration(.timeoutMs),
            deregisterCriticalServiceAfter: try duration(.deregisterCriticalServiceAfterMs),
            http: try container.decodeIfPresent(String.self, forKey: .http) ?? "",
            method: try container.decodeIfPresent(String.self, forKey: .method) ?? "",
            tcp: try container.decodeIfPresent(String.self, forKey: .tcp) ?? "",
            grpc: try container.decodeIfPresent(String.self, forKey: .grpc) ?? "",
            grpcUseTLS: try container.decodeIfPresent(Bool.self, forKey: .grpcUseTLS) ?? false,
            tlsSkipVerify: try container.decodeIfPresent(Bool.self, forKey: .tlsSkipVerify) ?? false
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(self.ttl?.totalMilliseconds, forKey: .ttlMs)
        try container.encodeIfPresent(self.interval?.totalMilliseconds, forKey: .intervalMs)
        try container.encodeIfPresent(self.timeout?.totalMilliseconds, forKey: .timeoutMs)
        try container.encodeIfPresent(
            self.deregisterCriticalServiceAfter?.totalMilliseconds,
            forKey: .deregisterCriticalServiceAfterMs
        )
        try container.encode(self.http, forKey: .http)
        try container.encode(self.method, forKey: .method)
        try container.encode(self.tcp, forKey: .tcp)
        try container.encode(self.grpc, forKey: .grpc)
        try container.encode(self.grpcUseTLS, forKey: .grpcUseTLS)
        try container.encode(self.tlsSkipVerify, forKey: .tlsSkipVerify)
    }
}
