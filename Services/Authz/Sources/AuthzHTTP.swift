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
        self.addAuthorizeRoutes(to: v1)
    }

    /// A JSON answer with the ACL schema's index in Consul's headers.
    func indexed(_ value: JSONValue) async throws -> Response {
        try ConsulHTTP.indexed(value, index: try await self.store.stableIndex())
    }
}
