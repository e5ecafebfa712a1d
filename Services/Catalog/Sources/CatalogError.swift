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
    /// The request cannot be carried out in the current state; the message is Consul's (400).
    case refused(String)
    /// No session has this ID (404).
    case unknownSession(String)

    var description: String {
        switch self {
        case .invalid(let error): "\(error.field): \(error.reason)"
        case .unknownCheck(let id):
            "Unknown check ID \"\(id)\". Ensure that the check ID is passed, not the check name."
        case .notTTLCheck(let id): "CheckID \"\(id)\" does not have associated TTL"
        case .ambiguousCheck(let id): "check ID \"\(id)\" exists on several nodes; pass ?node= to choose one"
        case .refused(let message): message
        case .unknownSession(let id): "Session id '\(id)' not found"
        }
    }
}

extension CatalogError: ServiceError {
    var consulHTTPError: ConsulHTTPError {
        switch self {
        case .invalid(let error): ConsulHTTPError.invalid(error)
        case .unknownCheck, .unknownSession: ConsulHTTPError(.notFound, self.description)
        case .notTTLCheck, .ambiguousCheck, .refused: ConsulHTTPError(.badRequest, self.description)
        }
    }

    var rpcErrorCode: RPCError.Code {
        switch self {
        case .invalid, .notTTLCheck, .ambiguousCheck: .invalidArgument
        case .refused: .failedPrecondition
        case .unknownCheck, .unknownSession: .notFound
        }
    }
}
