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

    /// A path parameter, percent-decoded; 400 with `missing` when empty.
    static func parameter(_ name: String, _ context: BasicRequestContext, missing: String) throws -> String {
        guard let value = context.parameters.get(name), !value.isEmpty else {
            throw ConsulHTTPError(.badRequest, missing)
        }
        return value.removingPercentEncoding ?? value
    }

    /// The request body as a case-insensitive object (400 when malformed, 413 past the limit).
    static func object(of request: Request, prefix: String) async throws -> LenientObject {
        let value = try await ConsulHTTP.jsonBody(of: request)
        do {
            return try LenientObject(value)
        } catch {
            throw ConsulHTTPError(.badRequest, "\(prefix) decoding failed: \(error)")
        }
    }

    /// A JSON answer with the ACL schema's index in Consul's headers.
    func indexed(_ value: JSONValue) async throws -> Response {
        try ConsulHTTP.indexed(value, index: try await self.store.stableIndex())
    }
}
