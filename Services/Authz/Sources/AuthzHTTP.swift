import Foundation
import Hummingbird
import Logging
import MeshCore
import MeshRPC
import MeshServer

/// authz-svc's Consul-compatible REST API: `/v1/acl/...` and `/v1/connect/intentions/...`.
struct AuthzHTTP: Sendable {
    let store: AuthzStore
    let gate: ACLGate
    let intentions: IntentionsCache
    let logger: Logger

    func addRoutes(to router: Router<BasicRequestContext>) {
        let v1 = router.group("v1")
        self.addACLRoutes(to: v1)
        self.addIntentionRoutes(to: v1)
    }

    /// Runs a handler, turning domain errors into Consul's responses.
    func handle(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as AuthzError {
            throw error.httpError
        } catch let error as ValidationError {
            throw ConsulHTTPError.invalid(error)
        } catch let error as ACLDenial {
            throw error.httpError
        }
    }

    /// A JSON answer with the ACL schema's index in Consul's headers.
    func indexed(_ value: JSONValue) async throws -> Response {
        try ConsulHTTP.indexed(value, index: try await self.store.stableIndex())
    }
}
