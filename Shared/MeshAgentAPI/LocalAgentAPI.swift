import Foundation
public import Hummingbird
public import Logging
public import MeshClient
import MeshCore
import MeshRPC
import NIOCore
import NIOHTTP1

/// The Consul agent API on 127.0.0.1 beside the application (`mesh-agent run --api-addr`, and `meshctl dev` on its REST address), so
/// that apps and tools written for a local Consul agent work unchanged: `/v1/agent/self`,
/// `/v1/agent/services`, `/v1/agent/service/:id`, `/v1/agent/service/register`,
/// `/v1/agent/service/deregister/:id`, `/v1/agent/checks`, `/v1/agent/check/{pass,warn,fail,update}/:id`,
/// `/v1/agent/connect/ca/roots` and `/v1/agent/connect/ca/leaf/:service`.
///
/// Every other path passes through to the control plane (``servesLocally(_:)``).
///
/// Calls go to the control plane with the caller's token, and without one as the agent's
/// `default` token (`PUT /v1/agent/token/default`), anonymous until one is set: the agent's
/// own token never serves a caller, or every process that reaches this port would act with
/// the task's identity. The control plane's ACLs decide. The listing is the agent's own: its
/// node's services (mesh-agent's instance and sidecar), and what was registered here.
public struct LocalAgentAPI: Sendable {
    public var api: ConsulAPI
    /// Where sessions are created: the control plane (`api`) unless told otherwise. `meshctl
    /// dev` names catalog-svc itself, since its REST address sends session creation here.
    public var sessionAPI: ConsulAPI
    /// The agent's token, for the agent's own calls (deregistering at shutdown), never a caller's.
    public var token: String
    public var node: LocalAgentNode
    public var datacenter: String
    /// nil: no config-distributor known, so no leaf certificates (Consul's "Connect must be enabled").
    public var leafIssuer: LeafIssuer?
    public var logger: Logger
    let registry = LocalRegistry()
    let tokens = AgentTokens()

    public init(
        api: ConsulAPI,
        token: String,
        node: LocalAgentNode,
        datacenter: String,
        leafIssuer: LeafIssuer?,
        sessionAPI: ConsulAPI? = nil,
        logger: Logger
    ) {
        self.api = api
        self.sessionAPI = sessionAPI ?? api
        self.token = token
        self.node = node
        self.datacenter = datacenter
        self.leafIssuer = leafIssuer
        self.logger = logger
    }

    /// The HTTP application bound to `host:port` (port 0: any; `onBound` gets the port).
    public func application(
        host: String,
        port: Int,
        onBound: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        self.addRoutes(to: router.group("v1/agent"))
        self.addSessionRoutes(to: router.group("v1"))
        router.answerWrongMethods()
        let local = router.buildResponder()
        let relay = HTTPRelay(client: HTTPRelay.sharedClient)
        let controlPlane = self.api.baseURL
        return Application(
            responder: CallbackResponder { (request: Request, context: BasicRequestContext) in
                let request = self.withDefaultToken(request)
                do {
                    guard Self.servesLocally(request.uri.path) else {
                        return try await relay.forward(request, to: controlPlane)
                    }
                    return try await local.respond(to: request, context: context)
                } catch let error as ConsulHTTPError {
                    return try error.response(from: request, context: context)
                }
            },
            configuration: .init(address: .hostname(host, port: port), serverName: "mesh-agent"),
            onServerRunning: { channel in await onBound(channel.localAddress?.port ?? port) },
            logger: self.logger
        )
    }

    /// Whether a path is the agent's own (`/v1/agent/...` and `/v1/session/create`, whose
    /// session binds to this node); the rest of the API is the control plane's, and passes
    /// through to it with the caller's token, as a Consul client agent forwards to its servers:
    /// tools pointed at the local agent (consul-template, Vault, `consul lock`) find KV,
    /// sessions, the catalog and everything else at the one address they know.
    static func servesLocally(_ path: String) -> Bool {
        path == "/v1/agent" || path.hasPrefix("/v1/agent/") || path == "/v1/session/create"
    }

    /// Serves, and runs the probes of the checks registered through it, until the task is
    /// cancelled (the agent's own signal handling decides when; the application installs none).
    public func serve(host: String, port: Int, onBound: @escaping @Sendable (Int) async -> Void) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.registry.probes.run() }
            try await self.application(host: host, port: port, onBound: onBound)
                .runService(gracefulShutdownSignals: [])
            group.cancelAll()
        }
    }

    /// Deregisters what was registered through the API (at shutdown, before the instance itself).
    public func deregisterAll() async {
        for service in await self.registry.removeAll() {
            _ = try? await self.catalog(nil).call(.PUT, "/v1/catalog/deregister", json: self.deregistration(service.id))
        }
    }

    /// Deregisters a service registered here: out of the registry first (its probes stop and
    /// write no more), then out of the catalog; put back if the catalog refuses.
    func deregister(_ id: String, _ request: Request) async throws {
        guard let removed = await self.registry.remove(id) else { return }
        let catalog = self.catalog(request)
        do {
            _ = try await catalog.call(.PUT, "/v1/catalog/deregister", json: self.deregistration(id))
        } catch {
            await self.registry.put(removed) { check in await self.probe(check, catalog: catalog) }
            throw error
        }
        self.logger.info("service deregistered through the local API", metadata: [LogKey.serviceID: "\(id)"])
    }

    /// The control plane as `request`'s caller (anonymous without a token), or as the agent itself.
    func catalog(_ request: Request?) -> ConsulAPI {
        guard let request else { return self.api.with(token: self.token) }
        return self.api.with(token: ConsulHTTP.token(of: request))
    }

    private func addRoutes(to agent: RouterGroup<BasicRequestContext>) {
        agent.get("self") { _, _ in try ConsulHTTP.json(self.selfDocument) }
        agent.get("members") { _, _ in try ConsulHTTP.json(JSONValue.array([self.memberDocument])) }
        self.addHealthRoutes(to: agent)
        self.addMaintenanceRoutes(to: agent)
        self.addTokenRoutes(to: agent)
        agent.get("services") { request, _ in
            let filter = try ConsulHTTP.filter(of: request, schema: .nodeService)
            return try await self.relaying {
                var services: [String: JSONValue] = [:]
                for (id, service) in try await self.visibleServices(request) { services[id] = service }
                return try ConsulHTTP.json(ConsulHTTP.filtered(.object(services), by: filter))
            }
        }
        agent.get("service/:id") { request, context in
            try await self.relaying {
                let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing service ID")
                guard let service = try await self.visibleServices(request)[id] else {
                    throw ConsulHTTPError(.notFound, "unknown service ID: \(id)")
                }
                return try ConsulHTTP.json(service)
            }
        }
        agent.put("service/register") { request, _ in
            try await self.relaying { try await self.register(request) }
        }
        agent.put("service/deregister/:id") { request, context in
            try await self.relaying {
                let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing service ID")
                guard await self.registry.all.contains(where: { $0.id == id }) else {
                    throw ConsulHTTPError(
                        .notFound,
                        "Unknown service ID \"\(id)\". Ensure that the service ID is passed, not the service name."
                    )
                }
                // A sidecar registered with the service (Connect.SidecarService) goes with it.
                let sidecars = await self.registry.all.filter { $0.parentID == id }.map(\.id)
                for serviceID in [id] + sidecars { try await self.deregister(serviceID, request) }
                return ConsulHTTP.empty()
            }
        }
        agent.get("checks") { request, _ in
            let filter = try ConsulHTTP.filter(of: request, schema: .healthCheck)
            return try await self.relaying {
                try ConsulHTTP.json(ConsulHTTP.filtered(.object(try await self.localChecks(request)), by: filter))
            }
        }
        agent.put("check/register") { request, _ in
            try await self.relaying { try await self.registerCheck(request) }
        }
        agent.put("check/deregister/:id") { request, context in
            try await self.relaying {
                let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing check ID")
                return try await self.deregisterCheck(request, id: id)
            }
        }
        for (verb, status) in [("pass", "passing"), ("warn", "warning"), ("fail", "critical")] {
            agent.put("check/\(verb)/:id") { request, context in
                try await self.relaying {
                    let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing check ID")
                    let note = ConsulHTTP.formValue("note", of: request) ?? ""
                    return try await self.updateTTL(request, id: id, status: status, output: note)
                }
            }
        }
        agent.put("check/update/:id") { request, context in
            try await self.relaying {
                let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing check ID")
                let body = try LenientObject(try await ConsulHTTP.jsonBody(of: request))
                let status = try body.string("Status") ?? ""
                guard ["passing", "warning", "critical"].contains(status) else {
                    throw ConsulHTTPError(.badRequest, "Invalid check status: '\(status)'")
                }
                return try await self.updateTTL(
                    request,
                    id: id,
                    status: status,
                    output: try body.string("Output") ?? ""
                )
            }
        }
        agent.post("connect/authorize") { request, _ in
            try await self.relaying { try await self.authorizeConnection(request) }
        }
        agent.get("connect/ca/roots") { request, _ in
            try await self.relaying { try await self.roots(request) }
        }
        agent.get("connect/ca/leaf/:service") { request, context in
            try await self.relaying {
                let service = try ConsulHTTP.pathParameter("service", context, missing: "Missing service name")
                return try await self.leaf(request, service: service)
            }
        }
    }

    /// Control-plane refusals keep their status and text; validation errors are Consul's 400s.
    func relaying(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as ConsulAPIError {
            switch error {
            case .status(let code, let message):
                throw ConsulHTTPError(.init(code: code), message)
            default:
                throw ConsulHTTPError(.internalServerError, "\(error)")
            }
        } catch let error as DefinitionError {
            throw ConsulHTTPError(.badRequest, error.description)
        } catch let error as ValidationError {
            throw ConsulHTTPError.invalid(error)
        }
    }
}
