import Foundation
import HTTPTypes
import Hummingbird
import MeshClient
import MeshCore
import MeshRPC
import NIOCore
import NIOHTTP1

/// `/v1/agent/health/service/id/:id` and `/name/:name`: a local service's aggregated health as
/// Consul's agent answers it, for load balancers and scripts that ask the agent beside an app.
/// The status code says it: 200 passing, 429 warning, 503 critical (404 for an unknown one);
/// `?format=text` or `Accept: text/plain` answers just the status.
extension LocalAgentAPI {
    func addHealthRoutes(to agent: RouterGroup<BasicRequestContext>) {
        agent.get("health/service/id/:id") { request, context in
            try await self.relaying { try await self.healthByID(request, context) }
        }
        agent.get("health/service/name/:name") { request, context in
            try await self.relaying { try await self.healthByName(request, context) }
        }
    }

    private func healthByID(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing serviceID")
        guard let service = await self.localServices().first(where: { $0.id == id }) else {
            let reason = "ServiceId \(id) not found"
            if Self.wantsText(request) { return Self.text(reason, status: .notFound) }
            let empty = JSONValue.object(["AggregatedStatus": .string("critical"), "Checks": .null, "Service": .null])
            return try ConsulHTTP.json(empty, status: .notFound)
        }
        let health = try await self.health(of: [service], named: service.name, request)[0]
        if Self.wantsText(request) { return Self.text(health.status.rawValue, status: Self.code(health.status)) }
        return try ConsulHTTP.json(health.document, status: Self.code(health.status))
    }

    private func healthByName(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let name = try ConsulHTTP.pathParameter("name", context, missing: "Missing service Name")
        let services = await self.localServices().filter { $0.name == name }
        let healths = services.isEmpty ? [] : try await self.health(of: services, named: name, request)
        // The worst of them decides; none is a 404.
        let worst = healths.map(\.status).max()
        let status: HTTPResponse.Status = worst.map(Self.code) ?? .notFound
        if Self.wantsText(request) {
            return Self.text(worst?.rawValue ?? "ServiceName \(name) Not Found", status: status)
        }
        return try ConsulHTTP.json(JSONValue.array(healths.map(\.document)), status: status)
    }

    /// The agent's services: its node's own, then those registered through the API.
    func localServices() async -> [ServiceDefinition] {
        self.node.services + (await self.registry.all).sorted { $0.id < $1.id }
    }

    /// The aggregated health of `services` (local instances of service `name`): their checks on
    /// this node, from one catalog read with the caller's token (which needs `service:read`: a
    /// listing the catalog filtered is a 403 here, as Consul's agent refuses).
    private func health(
        of services: [ServiceDefinition],
        named name: String,
        _ request: Request
    ) async throws -> [(status: CheckStatus, document: JSONValue)] {
        let (body, headers) = try await self.catalog(request).exchange(
            .GET,
            "/v1/health/checks/\(ConsulAPI.escape(name))"
        )
        if headers.first(name: ConsulHTTP.filteredByACLsHeader.rawName) == "true" {
            throw ConsulHTTPError(.forbidden, "Permission denied: token lacks permission 'service:read' on \"\(name)\"")
        }
        var all: [JSONValue] = []
        if case .array(let listed) = try JSONDecoder().decode(JSONValue.self, from: body) { all = listed }
        return services.map { service in
            let checks = all.filter {
                guard case .object(let check) = $0 else { return false }
                return check["ServiceID"] == .string(service.id) && check["Node"] == .string(self.node.name)
            }
            let status =
                checks.compactMap { check -> CheckStatus? in
                    guard case .object(let fields) = check, case .string(let text)? = fields["Status"] else {
                        return nil
                    }
                    return CheckStatus(rawValue: text)
                }.max() ?? .passing
            let document = JSONValue.object([
                "AggregatedStatus": .string(status.rawValue), "Service": self.agentService(service),
                "Checks": .array(checks),
            ])
            return (status, document)
        }
    }

    /// Consul's codes for an aggregated status.
    static func code(_ status: CheckStatus) -> HTTPResponse.Status {
        switch status {
        case .passing: .ok
        case .warning: .tooManyRequests
        case .critical: .serviceUnavailable
        }
    }

    static func wantsText(_ request: Request) -> Bool {
        if request.headers[.accept]?.hasPrefix("text/plain") == true { return true }
        return request.uri.queryParameters.get("format") == "text"
    }

    static func text(_ text: String, status: HTTPResponse.Status) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text))
        )
    }
}
