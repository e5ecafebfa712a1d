import GRPCCore
import ServiceLifecycle

/// grpc-swift tells a handler that its RPC was cancelled (the client reset the stream or its
/// connection closed, its deadline passed, the server began shutting down) through
/// `ServerContext.cancellation`, not by cancelling the handler's task. A watch parked on the
/// change feed would then stay parked, holding its waiter and memory, until the next change of its
/// topic or the end of its 300 s wait, and a server's graceful shutdown would wait for it.
public enum RPCCancellation {
    /// Runs a long-lived response body (a watch loop) so that RPC cancellation, and the service's
    /// graceful shutdown (streams end at once, so clients reconnect to another replica), cancel
    /// it: every wait that honours task cancellation then ends at once. The body's result, or
    /// `CancellationError` when the RPC was cancelled first.
    public static func scope<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let (cancelled, signal) = AsyncStream<Void>.makeStream()
        return try await withRPCCancellationHandler {
            try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await cancelWhenGracefulShutdown { try await body() } }
                group.addTask {
                    for await _ in cancelled {}
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let value = first else { throw CancellationError() }
                return value
            }
        } onCancelRPC: {
            signal.finish()
        }
    }
}
