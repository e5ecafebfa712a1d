import NIOCore

/// On a confirmed upstream connection, reads the peer's ``PeerStatus`` byte (the first byte it
/// sends), hands it and the bytes that came with it to `decided`, and leaves. A connection that
/// ends (or fails, or sends a byte that is no status) before that decides nil.
final class PeerStatusReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private var decided: ((PeerStatus?, ByteBuffer?) -> Void)?

    init(decided: @escaping (PeerStatus?, ByteBuffer?) -> Void) {
        self.decided = decided
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = Self.unwrapInboundIn(data)
        guard let decided = self.decided, let byte = buffer.readInteger(as: UInt8.self) else { return }
        self.decided = nil
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        decided(PeerStatus(rawValue: byte), buffer)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.end()
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.end()
        context.fireChannelInactive()
    }

    private func end() {
        guard let decided = self.decided else { return }
        self.decided = nil
        decided(nil, nil)
    }
}
