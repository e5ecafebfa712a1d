public import GRPCCore
public import HTTPTypes
public import Hummingbird
public import MeshCore

/// A typed error of a service, with its one answer on each edge: Consul's REST response and a
/// gRPC status. Hummingbird turns a thrown `HTTPResponseError` into its response and grpc-swift a
/// thrown `RPCErrorConvertible` into its status, so handlers throw the domain error as it is and
/// no edge maps errors by hand.
public protocol ServiceError: HTTPResponseError, RPCErrorConvertible {
    /// Consul's answer over REST: a status and its message.
    var consulHTTPError: ConsulHTTPError { get }
    /// The status over gRPC; the message is the REST one.
    var rpcErrorCode: RPCError.Code { get }
}

extension ServiceError {
    public var status: HTTPResponse.Status { self.consulHTTPError.status }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try self.consulHTTPError.response(from: request, context: context)
    }

    public var rpcErrorMessage: String { self.consulHTTPError.message }
}

/// A validation failure is the caller's mistake: 400 naming the field over REST (it was a 500
/// with an empty body where a handler forgot to map it), `invalidArgument` over gRPC.
extension ValidationError: ServiceError {
    public var consulHTTPError: ConsulHTTPError { .invalid(self) }
    public var rpcErrorCode: RPCError.Code { .invalidArgument }
}
