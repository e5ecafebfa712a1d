public import NIOCore
public import NIOPosix
import Synchronization

/// A TCP forwarder on loopback whose existing connections can be stalled: bytes stop flowing
/// both ways and nothing is closed, as when a NAT or load balancer silently drops a flow's
/// state. Connections made after the stall are forwarded normally (a new flow gets new state).
public final class StallableForwarder: Sendable {
    /// The forwarder's own port on 127.0.0.1.
    public let port: Int
    private let server: any Channel
    private let accepted: Atomic<Int>
    private let stalledBelow: Atomic<Int>

    private init(server: any Channel) {
        self.server = server
        self.port = server.localAddress?.port ?? 0
        self.accepted = Atomic(0)
        self.stalledBelow = Atomic(0)
    }

    /// Connections accepted since start.
    public var connectionsAccepted: Int { self.accepted.load(ordering: .relaxed) }

    /// Every connection accepted so far stops forwarding, for good.
    public func stallExisting() {
        self.stalledBelow.store(self.accepted.load(ordering: .relaxed), ordering: .relaxed)
    }

    fileprivate func isStalled(_ connection: Int) -> Bool {
        connection < self.stalledBelow.load(ordering: .relaxed)
    }

    fileprivate func nextConnection() -> Int {
        self.accepted.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    public func close() async {
        try? await self.server.close()
    }

    /// Listens on 127.0.0.1 (a free port) and forwards each connection to `host:port`.
    public static func start(
        to host: String,
        port: Int,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> StallableForwarder {
        let holder = ForwarderHolder()
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { inbound in
                guard let forwarder = holder.forwarder.withLock({ $0 }) else {
                    return inbound.close()
                }
                let connection = forwarder.nextConnection()
                let stalled: @Sendable () -> Bool = { forwarder.isStalled(connection) }
                let toTarget = Relay(stalled: stalled)
                do {
                    try inbound.pipeline.syncOperations.addHandler(toTarget)
                } catch {
                    return inbound.eventLoop.makeFailedFuture(error)
                }
                let relay = NIOLoopBound(toTarget, eventLoop: inbound.eventLoop)
                ClientBootstrap(group: inbound.eventLoop)
                    .channelInitializer { outbound in
                        outbound.eventLoop.makeCompletedFuture {
                            let back = Relay(stalled: stalled)
                            back.partner = inbound
                            try outbound.pipeline.syncOperations.addHandler(back)
                        }
                    }
                    .connect(host: host, port: port)
                    .whenComplete { result in
                        switch result {
                        case .success(let outbound): relay.value.attach(outbound)
                        case .failure: inbound.close(promise: nil)
                        }
                    }
                return inbound.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let forwarder = StallableForwarder(server: server)
        holder.forwarder.withLock { $0 = forwarder }
        return forwarder
    }
}

private final class ForwarderHolder: Sendable {
    let forwarder = Mutex<StallableForwarder?>(nil)
}

/// Writes what one side reads to the other (holding it until the other side is connected),
/// unless the connection is stalled: then drops it, and passes no close on either way.
private final class Relay: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    var partner: (any Channel)?
    private var pending: [ByteBuffer] = []
    private var closed = false
    let stalled: @Sendable () -> Bool

    init(stalled: @escaping @Sendable () -> Bool) {
        self.stalled = stalled
    }

    /// The other side is connected: what arrived meanwhile goes to it.
    func attach(_ partner: any Channel) {
        guard !self.closed else {
            partner.close(promise: nil)
            return
        }
        self.partner = partner
        for buffer in self.pending { partner.write(buffer, promise: nil) }
        self.pending = []
        partner.flush()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.stalled() else { return }
        let buffer = self.unwrapInboundIn(data)
        if let partner = self.partner {
            partner.writeAndFlush(buffer, promise: nil)
        } else {
            self.pending.append(buffer)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.closed = true
        if !self.stalled() { self.partner?.close(promise: nil) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
