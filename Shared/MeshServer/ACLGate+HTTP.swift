public import GRPCCore
public import Hummingbird
public import MeshRPC

extension ACLDenial: ServiceError {
    /// Consul's answer: 403 with the reason, or 500 when the token could not be resolved.
    public var consulHTTPError: ConsulHTTPError {
        switch self {
        case .notFound, .permissionDenied: ConsulHTTPError(.forbidden, self.description)
        case .unavailable: ConsulHTTPError(.internalServerError, self.description)
        }
    }

    public var rpcErrorCode: RPCError.Code {
        switch self {
        case .notFound, .permissionDenied: .permissionDenied
        case .unavailable: .unavailable
        }
    }
}

extension ACLGate {
    /// The caller of a REST request, from `X-Consul-Token`, `Authorization: Bearer` or `?token=`
    /// (none: the anonymous token). Unknown or expired tokens are refused with 403 `ACL not found`.
    public func caller(of request: Request) async throws -> ACLCaller {
        try await self.caller(secret: ConsulHTTP.token(of: request))
    }
}
