public import Hummingbird
public import MeshRPC

extension ACLDenial {
    /// Consul's answer: 403 with the reason, or 500 when the token could not be resolved.
    public var httpError: ConsulHTTPError {
        switch self {
        case .notFound, .permissionDenied: ConsulHTTPError(.forbidden, self.description)
        case .unavailable: ConsulHTTPError(.internalServerError, self.description)
        }
    }
}

extension ACLGate {
    /// The caller of a REST request, from `X-Consul-Token`, `Authorization: Bearer` or `?token=`
    /// (none: the anonymous token). Unknown or expired tokens are refused with 403 `ACL not found`.
    public func caller(of request: Request) async throws -> ACLCaller {
        do {
            return try await self.caller(secret: ConsulHTTP.token(of: request))
        } catch {
            throw error.httpError
        }
    }
}

extension ACLCaller {
    /// `require` for REST handlers: a refusal becomes Consul's 403.
    public func demand(_ allowed: Bool, _ permission: String, on resource: String? = nil) throws {
        do {
            try self.require(allowed, permission, on: resource)
        } catch {
            throw error.httpError
        }
    }
}
