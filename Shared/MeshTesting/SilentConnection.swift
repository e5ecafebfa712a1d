public import NIOCore
public import NIOPosix

/// A raw TCP connection to `host:port` that sends nothing: what a peer that never speaks looks
/// like to a listener (no ClientHello, no request, no HTTP/2 preface).
public func silentConnection(
    host: String = "127.0.0.1",
    port: Int,
    group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
    try await ClientBootstrap(group: group).connect(host: host, port: port) { channel in
        channel.eventLoop.makeCompletedFuture {
            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        }
    }
}

/// Whether the far end closes `connection` within `deadline` (its bytes are read and dropped);
/// the connection is closed either way.
public func closedByPeer(
    _ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
    within deadline: Duration
) async throws -> Bool {
    try await connection.executeThenClose { inbound, _ in
        try await withThrowingTaskGroup(of: Bool.self) { race in
            race.addTask {
                do {
                    for try await _ in inbound {}
                } catch {}
                return true
            }
            race.addTask {
                try await Task.sleep(for: deadline)
                return false
            }
            defer { race.cancelAll() }
            return try await race.next() ?? false
        }
    }
}
