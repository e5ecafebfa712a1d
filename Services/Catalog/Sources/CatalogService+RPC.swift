import Foundation
import GRPCCore
import Logging
import MeshCore
import MeshProto
import MeshRPC
import MeshServer
import MeshStore
import SwiftProtobuf

/// The catalog's gRPC API (`mesh.v1.Catalog`).
struct CatalogRPC: Sendable {
    let store: CatalogStore
    let watcher: CatalogWatcher
    let logger: Logger
}

extension CatalogRPC: Mesh_V1_Catalog.SimpleServiceProtocol {
    func register(request: Mesh_V1_RegisterRequest, context: ServerContext) async throws -> Mesh_V1_RegisterResponse {
        let registration = Registration(
            node: CatalogNode(request.node),
            service: request.hasService ? try ServiceInstance(request.service, node: request.node.name) : nil,
            checks: try request.checks.map { try HealthCheck($0, node: request.node.name) },
            skipNodeUpdate: request.skipNodeUpdate
        )
        try await self.authorize { try await $0.authorize(registration, caller: $1) }
        let index = try await self.store.register(registration)
        return .with { $0.index = index }
    }

    func deregister(
        request: Mesh_V1_DeregisterRequest,
        context: ServerContext
    ) async throws
        -> Mesh_V1_DeregisterResponse
    {
        let target: Deregistration =
            if !request.serviceID.isEmpty {
                .service(node: request.node, serviceID: request.serviceID)
            } else if !request.checkID.isEmpty {
                .check(node: request.node, checkID: request.checkID)
            } else {
                .node(request.node)
            }
        try await self.authorize { try await $0.authorize(target, caller: $1) }
        let index = try await self.store.deregister(target)
        return .with { $0.index = index }
    }

    func listServices(
        request: Mesh_V1_ListServicesRequest,
        context: ServerContext
    ) async throws
        -> Mesh_V1_ListServicesResponse
    {
        let result = try await self.watcher.read(.services, blocking: request.options.blocking)
        guard case .services(let services) = self.visible(result.value) else { return .init() }
        return .with {
            $0.index = result.index
            $0.services = services.mapValues { tags in .with { $0.tags = tags } }
        }
    }

    func serviceInstances(
        request: Mesh_V1_ServiceInstancesRequest,
        context: ServerContext
    ) async throws
        -> Mesh_V1_ServiceInstancesResponse
    {
        guard !request.service.isEmpty else {
            throw RPCError(code: .invalidArgument, message: "service: missing service name")
        }
        let result = try await self.watcher.read(.serviceHealth(request.service), blocking: request.options.blocking)
        return .with {
            $0.index = result.index
            $0.instances = Self.instances(
                self.visible(result.value),
                tags: request.tags,
                passingOnly: request.passingOnly
            )
        }
    }

    func listChecks(
        request: Mesh_V1_ListChecksRequest,
        context: ServerContext
    ) async throws
        -> Mesh_V1_ListChecksResponse
    {
        let query: CatalogQuery
        switch request.selector {
        case .service(let name)?: query = .checksOfService(name)
        case .node(let name)?: query = .checksOfNode(name)
        case .state(let state)?:
            guard state == "any" || CheckStatus(rawValue: state) != nil else {
                throw RPCError(code: .invalidArgument, message: "state: use any, passing, warning or critical")
            }
            query = .checksInState(state)
        case nil: throw RPCError(code: .invalidArgument, message: "selector: name a service, a node or a state")
        }
        let result = try await self.watcher.read(query, blocking: request.options.blocking)
        guard case .checks(let checks) = self.visible(result.value) else { return .init() }
        return .with {
            $0.index = result.index
            $0.checks = checks.map(Mesh_V1_HealthCheck.init)
        }
    }

    func updateTTL(request: Mesh_V1_UpdateTTLRequest, context: ServerContext) async throws -> Mesh_V1_UpdateTTLResponse
    {
        guard let status = CheckStatus(rawValue: request.status) else {
            throw RPCError(code: .invalidArgument, message: "status: use passing, warning or critical")
        }
        try await self.authorize { try await $0.authorizeTTL(node: request.node, checkID: request.checkID, caller: $1) }
        let index = try await self.store.updateTTL(
            node: request.node,
            checkID: request.checkID,
            status: status,
            output: request.output
        )
        return .with { $0.index = index }
    }

    func watch(
        request: Mesh_V1_WatchRequest,
        response: RPCWriter<Mesh_V1_WatchEvent>,
        context: ServerContext
    ) async throws {
        guard !request.service.isEmpty else {
            throw RPCError(code: .invalidArgument, message: "service: missing service name")
        }
        // Each event follows the last index sent, so nothing between two events is missed, and a
        // client that reconnects with its last index resumes exactly.
        let events = self.watcher.watch(.serviceHealth(request.service), from: request.minIndex) { result in
            Self.instances(self.visible(result), tags: [], passingOnly: request.passingOnly)
        }
        try await RPCCancellation.scope {
            for try await event in events {
                try await response.write(
                    .with {
                        $0.index = event.index
                        $0.instances = event.value
                    }
                )
            }
        }
    }

    func watchProtocols(
        request: Mesh_V1_WatchProtocolsRequest,
        response: RPCWriter<Mesh_V1_ProtocolsEvent>,
        context: ServerContext
    ) async throws {
        // Sent when the content changes: the stable index moves with every registration.
        let entries = self.store.feed.watch([CatalogStore.configTopic], from: 0, sending: .value) { _ in
            let index = try await self.store.client.stableIndex(of: CatalogStore.schema, logger: self.logger)
            return Indexed(try await self.store.proxyConfigEntries().visible(to: ACLCaller.current), index: index)
        }
        try await RPCCancellation.scope {
            for try await current in entries {
                try await response.write(
                    .with {
                        $0.index = current.index
                        $0.defaultProtocol = current.value.defaultProtocol
                        $0.protocols = current.value.protocols
                        $0.requestNormalization = Mesh_V1_RequestNormalization(current.value.requestNormalization)
                    }
                )
            }
        }
    }

    static func instances(_ result: CatalogResult, tags: [String], passingOnly: Bool) -> [Mesh_V1_ServiceHealth] {
        guard case .serviceHealth(let entries) = result else { return [] }
        return entries.filter { $0.service.hasTags(tags) && (!passingOnly || $0.aggregateStatus == .passing) }
            .map(Mesh_V1_ServiceHealth.init)
    }
}

extension Mesh_V1_QueryOptions {
    var blocking: BlockingQuery {
        guard self.minIndex > 0 else { return .immediate }
        return BlockingQuery.make(index: self.minIndex, wait: self.waitMs > 0 ? .milliseconds(self.waitMs) : nil)
    }
}

// MARK: proto <-> domain, at the edge

extension CatalogNode {
    init(_ proto: Mesh_V1_Node) {
        self.init(
            name: proto.name,
            id: proto.id,
            address: proto.address,
            datacenter: proto.datacenter,
            taggedAddresses: proto.taggedAddresses,
            meta: proto.meta
        )
    }
}

extension ServiceInstance {
    /// The instance a gRPC registration carries; its `proxy` and `connect` blocks are stored as
    /// Consul renders them, so REST readers see them as if registered over REST.
    init(_ proto: Mesh_V1_Service, node: String) throws(CatalogError) {
        self.init(
            node: node,
            id: proto.id,
            name: proto.name,
            tags: proto.tags,
            address: proto.address,
            port: Int(proto.port),
            meta: proto.meta,
            kind: proto.kind,
            taggedAddresses: proto.taggedAddresses.mapValues(JSONValue.string),
            weights: proto.hasWeights
                ? ServiceWeights(passing: Int(proto.weights.passing), warning: Int(proto.weights.warning))
                : ServiceWeights(),
            enableTagOverride: proto.enableTagOverride,
            proxy: proto.hasProxy ? proto.proxy.consulJSON : nil,
            connect: proto.hasConnect ? proto.connect.consulJSON : nil
        )
    }
}

extension HealthCheck {
    /// The check a gRPC registration carries; an unknown status is refused, as over REST.
    init(_ proto: Mesh_V1_HealthCheck, node: String) throws(CatalogError) {
        guard let status = CheckStatus(rawValue: proto.status) else {
            throw CatalogError.invalid(
                ValidationError(field: "Checks.Status", reason: "unknown check status \"\(proto.status)\"")
            )
        }
        let definition = proto.definition
        func duration(_ milliseconds: Int64) -> Duration? { milliseconds > 0 ? .milliseconds(milliseconds) : nil }
        self.init(
            node: node,
            checkID: proto.checkID,
            name: proto.name,
            status: status,
            notes: proto.notes,
            output: proto.output,
            serviceID: proto.serviceID,
            type: proto.type,
            definition: CheckDefinition(
                ttl: duration(definition.ttlMs),
                interval: duration(definition.intervalMs),
                timeout: duration(definition.timeoutMs),
                deregisterCriticalServiceAfter: duration(definition.deregisterCriticalServiceAfterMs),
                http: definition.http,
                method: definition.method,
                tcp: definition.tcp,
                grpc: definition.grpc,
                grpcUseTLS: definition.grpcUseTls,
                tlsSkipVerify: definition.tlsSkipVerify
            )
        )
    }
}

extension Mesh_V1_Node {
    init(_ node: CatalogNode) {
        self = .with {
            $0.name = node.name
            $0.id = node.id
            $0.address = node.address
            $0.datacenter = node.datacenter
            $0.taggedAddresses = node.taggedAddresses
            $0.meta = node.meta
            $0.createIndex = node.createIndex
            $0.modifyIndex = node.modifyIndex
        }
    }
}

extension Mesh_V1_Service {
    init(_ service: ServiceInstance) {
        self = .with {
            $0.id = service.id
            $0.name = service.name
            $0.tags = service.tags
            $0.address = service.address
            $0.port = UInt32(clamping: service.port)
            $0.meta = service.meta
            $0.kind = service.kind
            $0.taggedAddresses = service.taggedAddresses.compactMapValues {
                if case .string(let value) = $0 { return value }
                return nil
            }
            $0.weights = .with {
                $0.passing = Int32(clamping: service.weights.passing)
                $0.warning = Int32(clamping: service.weights.warning)
            }
            $0.enableTagOverride = service.enableTagOverride
            // Blocks are validated when written, so they read back; one that does not is left out.
            if let proxy = service.proxy, let block = try? LenientObject(proxy, path: "Proxy") {
                if let parsed = try? Mesh_V1_ConnectProxy(consul: block) { $0.proxy = parsed }
            }
            if let connect = service.connect, let block = try? LenientObject(connect, path: "Connect") {
                if let parsed = try? Mesh_V1_ServiceConnect(consul: block) { $0.connect = parsed }
            }
            $0.createIndex = service.createIndex
            $0.modifyIndex = service.modifyIndex
        }
    }
}

extension Mesh_V1_HealthCheck {
    init(_ check: HealthCheck) {
        self = .with {
            $0.node = check.node
            $0.checkID = check.checkID
            $0.name = check.name
            $0.status = check.status.rawValue
            $0.notes = check.notes
            $0.output = check.output
            $0.serviceID = check.serviceID
            $0.serviceName = check.serviceName
            $0.serviceTags = check.serviceTags
            $0.type = check.type
            $0.definition = .with {
                $0.ttlMs = check.definition.ttl?.totalMilliseconds ?? 0
                $0.intervalMs = check.definition.interval?.totalMilliseconds ?? 0
                $0.timeoutMs = check.definition.timeout?.totalMilliseconds ?? 0
                $0.deregisterCriticalServiceAfterMs =
                    check.definition.deregisterCriticalServiceAfter?.totalMilliseconds ?? 0
                $0.http = check.definition.http
                $0.method = check.definition.method
                $0.tcp = check.definition.tcp
                $0.grpc = check.definition.grpc
                $0.grpcUseTls = check.definition.grpcUseTLS
                $0.tlsSkipVerify = check.definition.tlsSkipVerify
            }
            $0.createIndex = check.createIndex
            $0.modifyIndex = check.modifyIndex
        }
    }
}

extension Mesh_V1_ServiceHealth {
    init(_ entry: ServiceHealth) {
        self = .with {
            $0.node = Mesh_V1_Node(entry.node)
            $0.service = Mesh_V1_Service(entry.service)
            $0.checks = entry.checks.map(Mesh_V1_HealthCheck.init)
        }
    }
}
