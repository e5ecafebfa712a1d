import Foundation
import Hummingbird
import MeshClient
import MeshCore
import MeshRPC
import NIOCore
import NIOHTTP1

/// `PUT /v1/session/create` on the agent's address: as Consul's agent does, a session that
/// names no `Node` binds to the agent's node (and, unless it names its checks, to the node's
/// `serfHealth`, which the control plane maps to the agent-liveness checks). The node is made
/// sure of first, with the agent's own token (as Consul's anti-entropy keeps it registered);
/// the session itself is created with the caller's token.
extension LocalAgentAPI {
    func addSessionRoutes(to v1: RouterGroup<BasicRequestContext>) {
        v1.put("session/create") { request, _ in
            try await self.relaying {
                let body = try await ConsulHTTP.optionalJSONBody(of: request) ?? .object([:])
                guard case .object(var fields) = body else {
                    throw ConsulHTTPError(.badRequest, "Request decode failed: the body must be an object")
                }
                let named = fields.first { $0.key.lowercased() == "node" }?.value
                if named == nil || named == .string("") || named == .null {
                    fields = fields.filter { $0.key.lowercased() != "node" }
                    fields["Node"] = .string(self.node.name)
                    if !self.node.skipNodeUpdate {
                        _ = try await self.catalog(nil).call(
                            .PUT,
                            "/v1/catalog/register",
                            json: try self.catalogRegistration(service: nil, checks: [])
                        )
                    }
                }
                let created = try await self.sessionAPI.with(token: ConsulHTTP.token(of: request)).call(
                    .PUT,
                    "/v1/session/create",
                    json: Data(JSONValue.object(fields).serialized())
                )
                var headers = HTTPFields()
                headers[.contentType] = "application/json"
                return Response(
                    status: .ok,
                    headers: headers,
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: created))
                )
            }
        }
    }
}
