import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import MeshAgentAPI
import MeshRPC
import Synchronization

/// The one REST address of `meshctl dev`: forwards each request to the service that owns its
/// path, as a load balancer's path rules do in front of the ECS services.
///
/// `/v1/acl/auth-method...`, `/v1/acl/binding-rule...`, `/v1/acl/login` and `/v1/acl/logout` go
/// to iam-auth-svc, the rest of `/v1/acl/...`, `/v1/connect/intentions...` and
/// `/v1/internal/acl/...` to authz-svc,
/// `/v1/connect/ca/...` to ca-svc, `/v1/agent/...` and `/v1/session/create` to the dev node's
/// local agent API (but the TTL updates, which catalog-svc serves), everything else to catalog-svc.
/// Bodies and answers pass through unchanged (blocking queries included).
///
/// With several replicas of a service (`--replicas`), requests take turns among them, and one
/// that cannot be connected to (a replica that died and is not replaced yet) is passed over for
/// the next, as a load balancer routes around a target that fails its health check; nothing is
/// sent twice, since nothing reached the first.
struct DevGateway: Sendable {
    let address: HostPort
    let catalog: ServiceAddress
    let authz: ServiceAddress
    let ca: ServiceAddress
    let iamAuth: ServiceAddress
    /// The dev node's local agent API (plain HTTP on loopback).
    let localAgent: HostPort
    /// The same agent, whose `default` token stands in for a caller's missing one on every
    /// path, as it does on a Consul dev agent's one address.
    let agentAPI: LocalAgentAPI
    /// The client for the services' HTTPS listeners (it trusts the dev CA).
    let client: HTTPClient
    let logger: Logger

    /// Takes turns among replicas.
    let turns = Turns()

    final class Turns: Sendable {
        private let count = Atomic<Int>(0)

        /// 0, 1, 2, ...
        func next() -> Int { self.count.wrappingAdd(1, ordering: .relaxed).oldValue }
    }

    /// Where a path is served.
    func upstream(for path: String) -> ServiceAddress {
        if Self.iamAuthPrefixes.contains(where: path.hasPrefix) { return self.iamAuth }
        if Self.authzPrefixes.contains(where: path.hasPrefix) { return self.authz }
        if path.hasPrefix("/v1/connect/ca/") { return self.ca }
        return self.catalog
    }

    /// Whether the dev node's local agent API serves `path`: `/v1/agent/...`, but for the TTL
    /// updates catalog-svc serves for every node (`/v1/agent/check/{pass,warn,fail,update}/`),
    /// and `/v1/session/create` (a session without `Node` binds to the dev node).
    func servedByLocalAgent(_ path: String) -> Bool {
        if path == "/v1/session/create" { return true }
        return path.hasPrefix("/v1/agent/") && !Self.catalogAgentPrefixes.contains(where: path.hasPrefix)
    }

    static let catalogAgentPrefixes = [
        "/v1/agent/check/pass/", "/v1/agent/check/warn/", "/v1/agent/check/fail/", "/v1/agent/check/update/",
    ]

    /// The paths authz-svc owns (after iam-auth-svc's; the ECS load balancer's rules).
    static let authzPrefixes = ["/v1/acl/", "/v1/connect/intentions", "/v1/internal/acl/"]

    /// The paths iam-auth-svc owns (the same path rules the ECS load balancer has).
    static let iamAuthPrefixes = [
        "/v1/acl/auth-method", "/v1/acl/binding-rule", "/v1/acl/login", "/v1/acl/logout",
    ]

    func application(onReady: @escaping @Sendable () -> Void) -> some ApplicationProtocol {
        let gateway = self
        return Application(
            responder: CallbackResponder { (request: Request, context: BasicRequestContext) in
                // No router here, so answer errors ourselves (Hummingbird would send a bare 500).
                do {
                    return try await gateway.forward(request)
                } catch let error as ConsulHTTPError {
                    return try error.response(from: request, context: context)
                }
            },
            configuration: .init(
                address: .hostname(self.address.host, port: self.address.port),
                serverName: "meshctl-dev"
            ),
            onServerRunning: { _ in onReady() },
            logger: self.logger
        )
    }

    func forward(_ request: Request) async throws -> Response {
        let request = self.agentAPI.withDefaultToken(request)
        let relay = HTTPRelay(client: self.client)
        if self.servedByLocalAgent(request.uri.path) {
            return try await relay.forward(request, to: "http://\(self.localAgent)")
        }
        let replicas = self.upstream(for: request.uri.path).replicas
        let start = self.turns.next()
        let order = replicas.indices.map { replicas[(start + $0) % replicas.count] }
        return try await relay.forward(request, toFirstReachable: order.map { "https://\($0)" })
    }
}
