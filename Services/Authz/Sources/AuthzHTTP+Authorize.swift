import Foundation
import Hummingbird
import MeshCore
import MeshRPC
import MeshServer

/// `POST /v1/internal/acl/authorize`: Consul's batch permission check, answering for the
/// caller's own token whether each `{Resource, Segment, Access}` is allowed (a local agent uses
/// it to enforce what Consul's agent enforces itself, e.g. `service:write` on the target of
/// `/v1/agent/connect/authorize`). At most 64 checks per call.
extension AuthzHTTP {
    static let maximumAuthorizations = 64

    func addAuthorizeRoutes(to v1: RouterGroup<BasicRequestContext>) {
        v1.post("internal/acl/authorize") { request, _ in
            guard case .array(let items) = try await ConsulHTTP.jsonBody(of: request) else {
                throw ConsulHTTPError(.badRequest, "Request decode failed: expected a list of authorization requests")
            }
            guard items.count <= Self.maximumAuthorizations else {
                throw ConsulHTTPError(
                    .contentTooLarge,
                    "Refusing to authorize more than \(Self.maximumAuthorizations) separate requests"
                )
            }
            let caller = try await self.caller(request)
            var answers: [JSONValue] = []
            for item in items {
                let fields = try LenientObject(item)
                let resource = try fields.string("Resource") ?? ""
                let segment = try fields.string("Segment") ?? ""
                let accessText = try fields.string("Access") ?? ""
                guard let access = ACLAccess(rawValue: accessText), access != .deny else {
                    throw ConsulHTTPError(.badRequest, "Invalid access level \"\(accessText)\"")
                }
                let allowed: Bool
                if let kind = ACLResource(rawValue: resource) {
                    guard access != .list || kind == .key else {
                        throw ConsulHTTPError(.badRequest, "Invalid access level for \(resource) resource: list")
                    }
                    allowed = caller.authorizer.allows(kind, segment, access)
                } else if let singleton = ACLSingleton(rawValue: resource), access != .list {
                    allowed = caller.authorizer.allows(singleton, access)
                } else {
                    throw ConsulHTTPError(.badRequest, "Invalid resource \"\(resource)\" or access \"\(accessText)\"")
                }
                answers.append(
                    .object([
                        "Resource": .string(resource), "Segment": .string(segment), "Access": .string(accessText),
                        "Allow": .bool(allowed),
                    ])
                )
            }
            return try ConsulHTTP.json(JSONValue.array(answers))
        }
    }
}
