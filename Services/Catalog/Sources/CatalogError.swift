import GRPCCore
import HTTPTypes
import MeshCore
import MeshRPC

/// Why a catalog operation was refused. Messages are safe to show to the caller.
enum CatalogError: Error, Sendable, CustomStringConvertible {
    /// A field of the request cannot be used (400 / invalidArgument).
    case invalid(ValidationError)
    /// The request names a check that does not exist (404 / notFound).
    case unknownCheck(String)
    /// The check exists but has no TTL, so it cannot be updated by its owner (500 in Consul; 400 here).
    case notTTLCheck(String)
    /// More than one node has a check with this ID; the caller must name the node.
    case ambiguousCheck(String)

    var description: String {
        switch self {
        case .invalid(let error): "\(error.field): \(error.reason)"
        case .unknownCheck(let id):
            "Unknown check ID \"\(id)\". Ensure that the check ID is passed, not the check name."
        case .notTTLCheck(let id): "CheckID \"\(id)\" does not have associated TTL"
        case .ambiguousCheck(let id): "check ID \"\(id)\" exists on several nodes; pass ?node= to choose one"
        }
    }
}

extension CatalogError: ServiceError {
    var consulHTTPError: ConsulHTTPError {
        switch self {
        case .invalid(let error): ConsulHTTPError.invalid(error)
        case .unknownCheck: ConsulHTTPError(.notFound, self.description)
        case .notTTLCheck, .ambiguousCheck: ConsulHTTPError(.badRequest, self.description)
        }
    }

    var rpcErrorCode: RPCError.Code {
        switch self {
        case .invalid, .notTTLCheck, .ambiguousCheck: .invalidArgument
        case .unknownCheck: .notFound
        }
    }
}
