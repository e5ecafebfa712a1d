import GRPCCore
import HTTPTypes
import MeshCore
import MeshRPC

/// Why an ACL or intention call was refused, with the status Consul answers it with.
enum AuthzError: Error, Sendable, Equatable {
    /// A field that cannot be accepted (400).
    case invalid(ValidationError)
    /// An unknown token accessor: Consul answers 403 `ACL not found` for these.
    case tokenNotFound
    /// An unknown policy, role or intention (404 with Consul's message).
    case notFound(String)
    /// `PUT /v1/acl/bootstrap` after the first time (403).
    case bootstrapUsed(resetIndex: ModifyIndex)
    /// A change the built-in objects do not allow (400 in Consul, e.g. deleting global-management).
    case builtin(String)
    /// A conflicting name or ID (400 in Consul).
    case conflict(String)
    /// Logout with a token that no auth method made (403, as Consul).
    case notLoginToken

    static func field(_ field: String, _ reason: String) -> AuthzError {
        .invalid(ValidationError(field: field, reason: reason))
    }
}

extension AuthzError: ServiceError {
    /// The response Consul gives for this refusal.
    var consulHTTPError: ConsulHTTPError {
        switch self {
        case .invalid(let error): ConsulHTTPError.invalid(error)
        case .tokenNotFound: ConsulHTTPError(.forbidden, "ACL not found")
        case .notFound(let message): ConsulHTTPError(.notFound, message)
        case .bootstrapUsed(let index):
            ConsulHTTPError(.forbidden, "Permission denied: ACL bootstrap no longer allowed (reset index: \(index))")
        case .builtin(let message): ConsulHTTPError(.badRequest, message)
        case .conflict(let message): ConsulHTTPError(.badRequest, message)
        case .notLoginToken: ConsulHTTPError(.forbidden, "Permission denied: token wasn't created via login")
        }
    }

    var rpcErrorCode: RPCError.Code {
        switch self {
        case .invalid, .builtin, .conflict: .invalidArgument
        case .tokenNotFound, .notFound: .notFound
        case .bootstrapUsed, .notLoginToken: .permissionDenied
        }
    }
}
