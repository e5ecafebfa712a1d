import Hummingbird
import MeshCore
import MeshRPC
import MeshServer

/// The agent endpoints the control plane's REST address answers itself (behind a load balancer
/// there is no agent node): `/v1/agent/self` and `/v1/agent/members`, naming the datacenter and
/// the replicas, so that clients that read them at start (Prometheus' and Fabio's Consul
/// discovery) start; registering through an agent is answered 400 naming mesh-agent's local API
/// (beside each app) and `/v1/catalog/register`. The TTL updates (`/v1/agent/check/pass|warn|fail|update`) are served with the catalog's routes.
extension CatalogHTTP {
    func addAgentRoutes(to v1: RouterGroup<BasicRequestContext>) {
        v1.get("agent/self") { request, _ in
            let caller = try await self.gate.caller(of: request)
            try caller.require(caller.authorizer.agentRead(self.replica), "agent:read", on: self.replica)
            return try ConsulHTTP.json(self.selfDocument)
        }
        v1.get("agent/members") { request, _ in
            let caller = try await self.gate.caller(of: request)
            // Consul lists the members the caller may read as nodes.
            let members = try await self.status.peers().filter { caller.authorizer.nodeRead($0) }
            return try ConsulHTTP.json(JSONValue.array(members.map(self.member)))
        }
        // Registration through an agent: the agent runs beside each app, not here.
        v1.put("agent/service/register") { _, _ -> Response in throw Self.noAgentHere }
        v1.put("agent/service/deregister/:id") { _, _ -> Response in throw Self.noAgentHere }
        v1.put("agent/check/register") { _, _ -> Response in throw Self.noAgentHere }
        v1.put("agent/check/deregister/:id") { _, _ -> Response in throw Self.noAgentHere }
    }

    /// What registering through an agent is answered on the control plane's address.
    static var noAgentHere: ConsulHTTPError {
        ConsulHTTPError(.badRequest, "Register through the local agent (mesh-agent) or /v1/catalog/register")
    }

    /// `GET /v1/agent/self` of the answering replica (a server, in Consul's words).
    var selfDocument: JSONValue {
        ConsulAgentJSON.agentSelf(
            datacenter: self.store.datacenter,
            nodeName: self.replica,
            server: true,
            member: self.member(self.replica)
        )
    }

    /// A replica as Consul's `agent.Member` (`address:port` split when it has a port).
    func member(_ replica: String) -> JSONValue {
        let address = HostPort(parsing: replica)
        return ConsulAgentJSON.member(
            name: replica,
            address: address?.host ?? replica,
            port: address?.port ?? 0,
            server: true,
            datacenter: self.store.datacenter
        )
    }
}
