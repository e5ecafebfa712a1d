public import NIOCore
import NIOPosix

/// A local app: answers each read with `<name>:<what it read>`, so a test sees which instance served it.
public final class TaggedEchoHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer
    let name: String

    public init(name: String) { self.name = name }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var reply = context.channel.allocator.buffer(string: "\(self.name):")
        var received = Self.unwrapInboundIn(data)
        reply.writeBuffer(&received)
        context.writeAndFlush(Self.wrapOutboundOut(reply), promise: nil)
    }
}

/// Starts a tagged echo app on a free loopback port.
///
/// With `belowEphemeralRange`, the port is one under the kernel's ephemeral range (20000–31999),
/// which no `bind(0)` of another test can be handed once the app has stopped: for tests that
/// watch the port refuse after the app exits.
public func startApp(
    name: String,
    group: any EventLoopGroup,
    belowEphemeralRange: Bool = false
) async throws -> any Channel {
    let bootstrap = ServerBootstrap(group: group)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(TaggedEchoHandler(name: name))
            }
        }
    guard belowEphemeralRange else { return try await bootstrap.bind(host: "127.0.0.1", port: 0).get() }
    var lastError: (any Error)?
    for _ in 0..<50 {
        do {
            return try await bootstrap.bind(host: "127.0.0.1", port: Int.random(in: 20000..<32000)).get()
        } catch {
            lastError = error
        }
    }
    throw lastError ?? ChannelError.ioOnClosedChannel
}

/// Sends `message` on a new connection to `port` and returns what comes back up to a newline
/// (empty when the far end closes without a byte: Consul's "empty reply"). A connection that
/// has not answered within `deadline` is closed and counts as no reply, so a test that lands on
/// a listener that never answers retries instead of hanging.
public func call(
    port: Int,
    _ message: String = "ping\n",
    group: any EventLoopGroup,
    deadline: TimeAmount = .seconds(10)
) async throws -> String {
    let channel = try await ClientBootstrap(group: group)
        .connectTimeout(deadline)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    let giveUp = channel.channel.eventLoop.scheduleTask(in: deadline) { channel.channel.close(promise: nil) }
    defer { giveUp.cancel() }
    return try await channel.executeThenClose { inbound, outbound in
        var received = ""
        do {
            // A proxy that refuses the connection may close it before the message is written.
            try await outbound.write(ByteBuffer(string: message))
            for try await chunk in inbound {
                received += String(buffer: chunk)
                if received.hasSuffix("\n") { break }
            }
        } catch {
            // A reset counts as no reply.
        }
        return received
    }
}
