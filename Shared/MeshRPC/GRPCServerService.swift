public import GRPCCore
public import ServiceLifecycle

/// Runs a `GRPCServer` as a lifecycle `Service`.
///
/// On graceful shutdown the server stops accepting RPCs and lets in-flight ones finish, for at
/// most `drainTimeout`; after that the remaining RPCs are cancelled, so that a stuck stream
/// cannot hold the process (or an ECS task) open.
public struct GRPCServerService<Transport: ServerTransport>: Service {
    public let server: GRPCServer<Transport>
    public let drainTimeout: Duration
    /// Closes the connections left when the drain is over (the listener's connection registry).
    let closeRemaining: @Sendable () -> Void

    public init(
        server: GRPCServer<Transport>,
        drainTimeout: Duration = .seconds(10),
        closeRemaining: @escaping @Sendable () -> Void = {}
    ) {
        self.server = server
        self.drainTimeout = drainTimeout
        self.closeRemaining = closeRemaining
    }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.server.serve() }
            group.addTask {
                try await gracefulShutdown()
                self.server.beginGracefulShutdown()
                try await Task.sleep(for: self.drainTimeout)
                // What is left now may be a peer that will never answer (half-open): close it,
                // or serve() would not return.
                self.closeRemaining()
            }
            // Whichever ends first: the server (drained or failed) or the drain deadline.
            try await group.next()
            group.cancelAll()
        }
    }
}

/// Runs a gRPC client's connections as a lifecycle `Service`: they open with the group and
/// close at its graceful shutdown (calls in flight finish first).
public struct GRPCClientService<Transport: ClientTransport>: Service {
    public let client: GRPCClient<Transport>

    public init(_ client: GRPCClient<Transport>) {
        self.client = client
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await self.client.runConnections()
        } onGracefulShutdown: {
            self.client.beginGracefulShutdown()
        }
    }
}
