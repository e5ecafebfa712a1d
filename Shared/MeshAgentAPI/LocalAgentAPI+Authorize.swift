import Foundation
import Hummingbird
import MeshClient
import MeshCore
import MeshRPC
import NIOCore
import NIOHTTP1

/// `POST /v1/agent/connect/authorize`: may a client presenting `ClientCertURI` connect to
/// `Target`? As Consul's agent answers it: the caller needs `service:write` on the target
/// (checked by the control plane's `/v1/internal/acl/authorize` with the caller's token); a
/// URI that is not a SPIFFE service ID, or one from another trust domain, is not authorized;
/// otherwise the intentions decide (`/v1/connect/intentions/check`).
extension LocalAgentAPI {
    func authorizeConnection(_ request: Request) async throws -> Response {
        let body = try await ConsulHTTP.lenientBody(of: request, prefix: "Request")
        guard let target = try body.string("Target"), !target.isEmpty else {
            throw ConsulHTTPError(.badRequest, "Target service must be specified")
        }
        guard let uri = try body.string("ClientCertURI"), !uri.isEmpty else {
            throw ConsulHTTPError(.badRequest, "ClientCertURI must be specified")
        }
        try await self.require(request, "service", target, "write")
        let api = self.catalog(request)
        guard let client = SPIFFEID(uri: uri) else {
            return try Self.decision(false, "ClientCertURI not a valid Connect identifier")
        }
        let roots = try JSONValue(parsing: try await api.call(.GET, "/v1/connect/ca/roots"))
        if case .object(let fields) = roots, case .string(let trustDomain)? = fields["TrustDomain"],
            trustDomain.lowercased() != client.trustDomain.lowercased()
        {
            return try Self.decision(false, "Identity from an external trust domain")
        }
        let path =
            "/v1/connect/intentions/check?source=\(ConsulAPI.escape(client.service))"
            + "&destination=\(ConsulAPI.escape(target))"
        let verdict = try JSONValue(parsing: try await api.call(.GET, path))
        guard case .object(let decided) = verdict, case .bool(let allowed)? = decided["Allowed"] else {
            throw ConsulHTTPError(.internalServerError, "the intention check answered no decision")
        }
        return try Self.decision(
            allowed,
            allowed
                ? "Allowed by intentions for \(client.service) => \(target)"
                : "Denied by intentions for \(client.service) => \(target)"
        )
    }

    /// Refuses (403, Consul's wording) unless the caller's token has `access` on `resource`
    /// `segment`, as the control plane's `/v1/internal/acl/authorize` answers for that token.
    func require(_ request: Request, _ resource: String, _ segment: String, _ access: String) async throws {
        let check = JSONValue.array([
            .object(["Resource": .string(resource), "Segment": .string(segment), "Access": .string(access)])
        ])
        let answer = try JSONValue(
            parsing: try await self.catalog(request).call(
                .POST,
                "/v1/internal/acl/authorize",
                json: Data(check.serialized())
            )
        )
        guard case .array(let results) = answer, case .object(let first)? = results.first,
            first["Allow"] == .bool(true)
        else {
            throw ConsulHTTPError(
                .forbidden,
                "Permission denied: token lacks permission '\(resource):\(access)' on \"\(segment)\""
            )
        }
    }

    private static func decision(_ authorized: Bool, _ reason: String) throws -> Response {
        try ConsulHTTP.json(JSONValue.object(["Authorized": .bool(authorized), "Reason": .string(reason)]))
    }
}
