import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A tiny HTTP/1 server on 127.0.0.1 that answers every request with a fixed JSON body and records what it got;
/// stands in for the ECS container credentials endpoint.
final class CredentialsTestServer: Sendable {
    /// One request as the server saw it.
    struct Seen: Sendable {
        var uri: String
        var authorization: String?
    }

    private let channel: any Channel
    private let box: StateBox

    /// The port the server listens on.
    let port: Int

    init() async throws {
        let box = StateBox()
        self.channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(box: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        self.port = self.channel.localAddress?.port ?? 0
        self.box = box
    }

    /// What every subsequent request gets as its body.
    func respond(with body: String) {
        self.box.state.withLock { $0.body = body }
    }

    /// The requests received so far.
    var seen: [Seen] {
        self.box.state.withLock { $0.seen }
    }

    func shutdown() async throws {
        try await self.channel.close()
    }

    final class StateBox: Sendable {
        let state = Mutex<(body: String, seen: [Seen])>((body: "{}", seen: []))
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let box: StateBox
        var head: HTTPRequestHead?

        init(box: StateBox) {
            self.box = box
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch self.unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
            case .body:
                break
            case .end:
                let uri = self.head?.uri ?? ""
                let authorization = self.head?.headers["Authorization"].first
                let body = self.box.state.withLock { state in
                    state.seen.append(Seen(uri: uri, authorization: authorization))
                    return state.body
                }
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Content-Length", value: String(body.utf8.count))
                let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)
                context.write(self.wrapOutboundOut(.head(head)), promise: nil)
                context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
                context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
