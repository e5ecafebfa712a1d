public import GRPCCore
import MeshNet

extension ACLCaller {
    /// The caller of the gRPC call being served, set by `ACLInterceptor`.
    @TaskLocal public static var current: ACLCaller?

    /// The current call's caller; `permissionDenied` when no interceptor resolved one.
    public static func ofCurrentCall() throws -> ACLCaller {
        guard let caller = Self.current else {
            throw RPCError(code: .permissionDenied, message: "Permission denied: no ACL caller for this call")
        }
        return caller
    }
}

/// Resolves the `x-consul-token` metadata of every call and serves the call as that caller
/// (`ACLCaller.current`). Unknown or expired tokens are refused before the handler runs.
public struct ACLInterceptor: ServerInterceptor {
    /// The metadata key that carries the token, as Consul's gRPC APIs name it.
    public static let tokenKey = Metadata.tokenKey

    let gate: ACLGate

    public init(gate: ACLGate) {
        self.gate = gate
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let secret = request.metadata[stringValues: Self.tokenKey].first { _ in true }
        // A refusal is `permissionDenied`, an unreachable authz-svc `unavailable` (ACLDenial: ServiceError).
        let caller = try await self.gate.caller(secret: secret)
        var response = try await ACLCaller.$current.withValue(caller) { try await next(request, context) }
        // Streaming bodies run after this returns: carry the caller into them too.
        if case .success(var contents) = response.accepted {
            let producer = contents.producer
            contents.producer = { writer in
                try await ACLCaller.$current.withValue(caller) { try await producer(writer) }
            }
            response.accepted = .success(contents)
        }
        return response
    }
}
