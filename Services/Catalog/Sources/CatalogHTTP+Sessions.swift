import Foundation
import Hummingbird
import Logging
import MeshCore
import MeshRPC
import MeshServer
import MeshStore

/// `/v1/session`: create, destroy, renew and read sessions. Creating, destroying and renewing
/// need `session:write` on the session's node, reading `session:read` (listings leave out the
/// rest). A session created here without `Node` has no node (there is no agent behind the
/// control plane's address) and must have a TTL; the local agent's address binds it to its
/// node instead (see docs/DECISIONS.md).
extension CatalogHTTP {
    func addSessionRoutes(to v1: RouterGroup<BasicRequestContext>) {
        v1.put("session/create") { request, _ in
            let body = try await ConsulHTTP.optionalJSONBody(of: request)
            let session = try Session.parse(body, id: UUID().uuidString.lowercased(), defaultNode: "")
            let caller = try await self.gate.caller(of: request)
            try caller.require(caller.authorizer.sessionWrite(session.node), "session:write", on: session.node)
            try await self.store.createSession(session)
            self.logger.info(
                "session created",
                metadata: [
                    LogKey.id: "\(session.id)", LogKey.node: "\(session.node)", LogKey.by: "\(caller.accessorID)",
                ]
            )
            return try ConsulHTTP.json(JSONValue.object(["ID": .string(session.id)]))
        }
        v1.put("session/destroy/:id") { request, context in
            let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing session")
            let caller = try await self.gate.caller(of: request)
            if let session = try await self.store.sessions(.id(id)).value.first {
                try caller.require(caller.authorizer.sessionWrite(session.node), "session:write", on: session.node)
                try await self.store.destroySession(id)
            }
            return try ConsulHTTP.json(true)
        }
        v1.put("session/renew/:id") { request, context in
            let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing session")
            let caller = try await self.gate.caller(of: request)
            guard let session = try await self.store.sessions(.id(id)).value.first else {
                throw CatalogError.unknownSession(id)
            }
            try caller.require(caller.authorizer.sessionWrite(session.node), "session:write", on: session.node)
            return try ConsulHTTP.json(JSONValue.array([try await self.store.renewSession(id).json]))
        }
        v1.get("session/info/:id") { request, context in
            let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing session")
            return try await self.sessionRead(.id(id), request)
        }
        v1.get("session/node/:node") { request, context in
            let node = try ConsulHTTP.pathParameter("node", context, missing: "Missing node name")
            return try await self.sessionRead(.node(node), request)
        }
        v1.get("session/list") { request, _ in try await self.sessionRead(.all, request) }
    }

    /// A (possibly blocking) session read, leaving out the sessions the caller may not read.
    private func sessionRead(_ query: SessionQuery, _ request: Request) async throws -> Response {
        let blocking = try ConsulHTTP.blockingQuery(of: request)
        let caller = try await self.gate.caller(of: request)
        let result = try await self.store.feed.blockingRead([CatalogStore.sessionsTopic], blocking) { _ in
            try await self.store.sessions(query)
        }
        let visible = result.value.filter { caller.authorizer.sessionRead($0.node) }
        var response = try ConsulHTTP.indexed(JSONValue.array(visible.map(\.json)), index: result.index)
        if visible.count != result.value.count { response.headers[ConsulHTTP.filteredByACLsHeader] = "true" }
        return response
    }
}
