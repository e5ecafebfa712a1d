import NIOCore
import Prometheus

/// One half of a spliced pair of channels: what one side reads, the other writes, with
/// backpressure (a side stops reading while its partner cannot write).
///
/// Both halves must live on the same event loop; the proxy opens every outgoing connection on the
/// loop of the connection that caused it. Modelled on SwiftNIO's connect-proxy example.
final class GlueHandler {
    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    /// Counts the bytes this side reads (bytes that cross the proxy in one direction).
    private let bytes: Counter?

    private init(bytes: Counter?) {
        self.bytes = bytes
    }

    /// A connected pair: the first for one channel, the second for the other.
    static func matchedPair(bytesFirst: Counter? = nil, bytesSecond: Counter? = nil) -> (GlueHandler, GlueHandler) {
        let first = GlueHandler(bytes: bytesFirst)
        let second = GlueHandler(bytes: bytesSecond)
        first.partner = second
        second.partner = first
        return (first, second)
    }

    private func partnerWrite(_ data: NIOAny) {
        self.context?.write(data, promise: nil)
    }

    private func partnerFlush() {
        self.context?.flush()
    }

    /// Closes after what was already written has gone out (a plain close would drop pending writes).
    private func partnerClose() {
        guard let context = self.context else { return }
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(capacity: 0)), promise: promise)
        promise.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    private func partnerBecameWritable() {
        if self.pendingRead {
            self.pendingRead = false
            self.context?.read()
        }
    }

    private var partnerWritable: Bool {
        self.context?.channel.isWritable ?? false
    }
}

extension GlueHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let bytes = self.bytes {
            bytes.increment(by: Int64(Self.unwrapInboundIn(data).readableBytes))
        }
        self.partner?.partnerWrite(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.partner?.partnerFlush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.partner?.partnerClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset or a TLS failure on one side ends both.
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.partner?.partnerBecameWritable()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if let partner = self.partner, partner.partnerWritable {
            context.read()
        } else {
            self.pendingRead = true
        }
    }
}
