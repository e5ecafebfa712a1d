import NIOCore

/// The last handler of an HTTP/2 connection: a connection error (NIOHTTP2 has sent GOAWAY and
/// reported it) closes the connection. Left open, a pooled client connection that the peer had
/// given up on kept taking new streams that were never answered: one request with an oversized
/// header list wedged every later request to that endpoint (found by ProxyParserFuzzTests).
final class H2ConnectionErrorCloser: ChannelInboundHandler {
    typealias InboundIn = Any

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
