import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MeshCore
import MeshRPC
import MeshServer

/// The Consul-compatible REST API of the catalog (`/v1/catalog`, `/v1/health`, `/v1/status`,
/// and the TTL endpoints of `/v1/agent/check`).
struct CatalogHTTP: Sendable {
    let store: CatalogStore
    let watcher: CatalogWatcher
    let status: ClusterStatus
    let gate: ACLGate
    /// This replica's advertised address (its name in `/v1/agent/self` and `/members`).
    let replica: String
    let logger: Logger

    func addRoutes(to router: Router<BasicRequestContext>) {
        self.addUIRoutes(to: router)
        let v1 = router.group("v1")
        v1.put("catalog/register") { request, _ in try await self.register(request) }
        self.addConfigRoutes(to: v1)
        self.addAgentRoutes(to: v1)
        self.addKVRoutes(to: v1)
        self.addSessionRoutes(to: v1)
        self.addTxnRoutes(to: v1)
        v1.put("catalog/deregister") { request, _ in try await self.deregister(request) }
        v1.get("catalog/services") { request, _ in
            // The filter sees each service as {ServiceName, ServiceTags}; the answer is the map.
            let filter = try ConsulHTTP.filter(of: request, schema: .catalogServices)
            return try await self.answer(.services, request) { result in
                guard case .services(let services) = result else { return .object([:]) }
                let selected = services.filter { name, tags in
                    filter?.matches(.object(["ServiceName": .string(name), "ServiceTags": ConsulJSON.strings(tags)]))
                        ?? true
                }
                return .object(selected.mapValues(ConsulJSON.strings))
            }
        }
        v1.get("catalog/nodes") { request, _ in
            try await self.answer(.nodes, request, filter: .node) { result in
                guard case .nodes(let nodes) = result else { return .array([]) }
                return .array(nodes.map(ConsulJSON.node))
            }
        }
        v1.get("catalog/node/:node") { request, context in
            let node = try ConsulHTTP.pathParameter("node", context, missing: "Missing node name")
            return try await self.answer(.node(node), request) { result in
                guard case .node(let found?) = result else { return .null }
                return .object([
                    "Node": ConsulJSON.node(found.node),
                    "Services": .object(
                        Dictionary(uniqueKeysWithValues: found.services.map { ($0.id, ConsulJSON.nodeService($0)) })
                    ),
                ])
            }
        }
        v1.get("catalog/service/:service") { request, context in
            let service = try ConsulHTTP.pathParameter("service", context, missing: "Missing service name")
            let tags = request.uri.queryParameters.getAll("tag").map { String($0) }
            return try await self.answer(.serviceHealth(service), request, filter: .serviceNode) { result in
                guard case .serviceHealth(let entries) = result else { return .array([]) }
                return .array(entries.filter { $0.service.hasTags(tags) }.map(ConsulJSON.catalogService))
            }
        }
        v1.get("health/service/:service") { request, context in
            let service = try ConsulHTTP.pathParameter("service", context, missing: "Missing service name")
            let tags = request.uri.queryParameters.getAll("tag").map { String($0) }
            let passingOnly = try ConsulHTTP.flag("passing", of: request)
            return try await self.answer(.serviceHealth(service), request, filter: .checkServiceNode) { result in
                guard case .serviceHealth(let entries) = result else { return .array([]) }
                let selected = entries.filter {
                    $0.service.hasTags(tags) && (!passingOnly || $0.aggregateStatus == .passing)
                }
                return .array(selected.map(ConsulJSON.health))
            }
        }
        v1.get("catalog/connect/:service") { request, context in
            let service = try ConsulHTTP.pathParameter("service", context, missing: "Missing service name")
            let tags = request.uri.queryParameters.getAll("tag").map { String($0) }
            return try await self.answer(.connectHealth(service), request, filter: .serviceNode) { result in
                guard case .serviceHealth(let entries) = result else { return .array([]) }
                return .array(entries.filter { $0.service.hasTags(tags) }.map(ConsulJSON.catalogService))
            }
        }
        v1.get("health/connect/:service") { request, context in
            let service = try ConsulHTTP.pathParameter("service", context, missing: "Missing service name")
            let tags = request.uri.queryParameters.getAll("tag").map { String($0) }
            let passingOnly = try ConsulHTTP.flag("passing", of: request)
            return try await self.answer(.connectHealth(service), request, filter: .checkServiceNode) { result in
                guard case .serviceHealth(let entries) = result else { return .array([]) }
                let selected = entries.filter {
                    $0.service.hasTags(tags) && (!passingOnly || $0.aggregateStatus == .passing)
                }
                return .array(selected.map(ConsulJSON.health))
            }
        }
        v1.get("catalog/node-services/:node") { request, context in
            let node = try ConsulHTTP.pathParameter("node", context, missing: "Missing node name")
            let filter = try ConsulHTTP.filter(of: request, schema: .nodeService)
            return try await self.answer(.node(node), request) { result in
                guard case .node(let found?) = result else { return .object(["Node": .null, "Services": .array([])]) }
                let services = ConsulHTTP.filtered(.array(found.services.map(ConsulJSON.nodeService)), by: filter)
                return .object(["Node": ConsulJSON.node(found.node), "Services": services])
            }
        }
        v1.get("internal/ui/services") { request, _ in
            // Consul's UI summary: one entry per service, so a page needs one blocking query.
            try await self.answer(.allServiceHealth, request) { result in
                guard case .serviceHealth(let entries) = result else { return .array([]) }
                return Self.servicesSummary(entries, datacenter: self.store.datacenter)
            }
        }
        v1.get("catalog/datacenters") { _, _ in try ConsulHTTP.json([self.store.datacenter]) }
        v1.get("health/checks/:service") { request, context in
            let service = try ConsulHTTP.pathParameter("service", context, missing: "Missing service name")
            return try await self.answer(.checksOfService(service), request, filter: .healthCheck, render: Self.checks)
        }
        v1.get("health/node/:node") { request, context in
            let node = try ConsulHTTP.pathParameter("node", context, missing: "Missing node name")
            return try await self.answer(.checksOfNode(node), request, filter: .healthCheck, render: Self.checks)
        }
        v1.get("health/state/:state") { request, context in
            let state = try ConsulHTTP.pathParameter("state", context, missing: "Missing check state")
            guard state == "any" || CheckStatus(rawValue: state) != nil else {
                throw ConsulHTTPError(
                    .badRequest,
                    "Invalid check state \"\(state)\": use any, passing, warning or critical"
                )
            }
            return try await self.answer(.checksInState(state), request, filter: .healthCheck, render: Self.checks)
        }
        v1.get("status/leader") { _, _ in try ConsulHTTP.json(try await self.status.leader()) }
        v1.get("status/peers") { _, _ in try ConsulHTTP.json(try await self.status.peers()) }
        for (verb, status) in [("pass", CheckStatus.passing), ("warn", .warning), ("fail", .critical)] {
            v1.put("agent/check/\(verb)/:check") { request, context in
                let check = try ConsulHTTP.pathParameter("check", context, missing: "Missing check ID")
                let note = ConsulHTTP.formValue("note", of: request) ?? ""
                return try await self.updateTTL(request, check: check, status: status, output: note)
            }
        }
        v1.put("agent/check/update/:check") { request, context in
            let check = try ConsulHTTP.pathParameter("check", context, missing: "Missing check ID")
            let body = try LenientObject(try await ConsulHTTP.jsonBody(of: request))
            let text = try body.string("Status") ?? ""
            guard let status = CheckStatus(rawValue: text) else {
                throw ConsulHTTPError(.badRequest, "Invalid check status: '\(text)'")
            }
            return try await self.updateTTL(
                request,
                check: check,
                status: status,
                output: try body.string("Output") ?? ""
            )
        }
    }

    static func checks(_ result: CatalogResult) -> JSONValue {
        guard case .checks(let checks) = result else { return .array([]) }
        return .array(checks.map(ConsulJSON.check))
    }

    /// Runs a (possibly blocking) read and renders it with Consul's index headers. A listing
    /// whose elements are of `schema` keeps those `?filter=` and `?node-meta=` select.
    func answer(
        _ query: CatalogQuery,
        _ request: Request,
        filter schema: FilterSchema? = nil,
        render: @Sendable (CatalogResult) -> JSONValue
    ) async throws -> Response {
        let filter = try schema.flatMap { try ConsulHTTP.filter(of: request, schema: $0) }
        let nodeMeta = schema != nil ? ConsulHTTP.nodeMeta(of: request) : []
        let blocking = try ConsulHTTP.blockingQuery(of: request)
        let consistency =
            request.uri.queryParameters.has("stale")
            ? "stale" : (request.uri.queryParameters.has("consistent") ? "consistent" : "leader")
        let caller = try await self.gate.caller(of: request)
        let result = try await self.watcher.read(query, blocking: blocking)
        var value = result.value
        var filtered = false
        if self.gate.isEnabled { (value, filtered) = value.filtered(by: caller.authorizer) }
        let rendered = ConsulHTTP.filtered(render(value), by: filter, nodeMeta: nodeMeta)
        var response = try ConsulHTTP.indexed(rendered, index: result.index, consistency: consistency)
        if filtered { response.headers[ConsulHTTP.filteredByACLsHeader] = "true" }
        return response
    }

    func register(_ request: Request) async throws -> Response {
        let body = try await ConsulHTTP.jsonBody(of: request)
        let registration = try ConsulRequest.registration(body)
        try await self.authorize(request) { try await $0.authorize(registration, caller: $1) }
        _ = try await self.store.register(registration)
        return try ConsulHTTP.json(true)
    }

    func deregister(_ request: Request) async throws -> Response {
        let body = try await ConsulHTTP.jsonBody(of: request)
        let target = try ConsulRequest.deregistration(body)
        try await self.authorize(request) { try await $0.authorize(target, caller: $1) }
        _ = try await self.store.deregister(target)
        return try ConsulHTTP.json(true)
    }

    func updateTTL(_ request: Request, check: String, status: CheckStatus, output: String) async throws -> Response {
        let node = request.uri.queryParameters.get("node") ?? ""
        try await self.authorize(request) { try await $0.authorizeTTL(node: node, checkID: check, caller: $1) }
        _ = try await self.store.updateTTL(node: node, checkID: check, status: status, output: output)
        return ConsulHTTP.empty()
    }
}

extension CatalogHTTP {
    /// `/v1/internal/ui/services`' entries (Consul's `ServiceListingSummary` fields we hold):
    /// per service, its kind, the union of its tags, its nodes, how many instances, and its
    /// instances' checks (their own and their nodes') by status.
    static func servicesSummary(_ entries: [ServiceHealth], datacenter: String) -> JSONValue {
        let grouped = Dictionary(grouping: entries, by: \.service.name)
        return .array(
            grouped.keys.sorted().map { name in
                let instances = grouped[name] ?? []
                var tags: [String] = []
                for tag in instances.flatMap(\.service.tags) where !tags.contains(tag) { tags.append(tag) }
                let checks = instances.flatMap(\.checks)
                func count(_ status: CheckStatus) -> JSONValue {
                    .number(Double(checks.filter { $0.status == status }.count))
                }
                return .object([
                    "Name": .string(name), "Kind": .string(instances.first?.service.kind ?? ""),
                    "Datacenter": .string(datacenter), "Tags": .array(tags.map(JSONValue.string)),
                    "Nodes": .array(Array(Set(instances.map(\.node.name))).sorted().map(JSONValue.string)),
                    "InstanceCount": .number(Double(instances.count)), "ChecksPassing": count(.passing),
                    "ChecksWarning": count(.warning), "ChecksCritical": count(.critical),
                ])
            }
        )
    }
}
