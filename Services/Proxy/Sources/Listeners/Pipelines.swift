import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix

/// The shapes of the proxy's pipelines, each built here once: the listeners' bootstrap, the
/// dialler's, an HTTP/1.1 server and an HTTP/2 server (the public listener switches to one after
/// the identity check; an upstream listener starts as one).
enum Pipelines {
    /// A listener: a deep accept backlog, address reuse, no Nagle on accepted connections.
    static func listener(on group: any EventLoopGroup) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    }

    /// An outgoing connection (to the local app or an upstream endpoint): bounded by `timeout`,
    /// no Nagle.
    static func dialler(on eventLoop: any EventLoop, timeout: TimeAmount) -> ClientBootstrap {
        ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
    }

    /// An HTTP/1.1 server in front of `handler`: pipelined requests one at a time, and NIO's
    /// 400 (then close) for what the parser refuses. Added after `predecessor`, or at the end.
    static func addHTTP1Server(
        _ handler: some ChannelHandler,
        after predecessor: (any ChannelHandler)? = nil,
        to pipeline: ChannelPipeline.SynchronousOperations
    ) throws {
        if let predecessor {
            try pipeline.addHandler(handler, position: .after(predecessor))
            try pipeline.configureHTTPServerPipeline(
                position: .after(predecessor),
                withPipeliningAssistance: true,
                withErrorHandling: true
            )
        } else {
            try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
            try pipeline.addHandler(handler)
        }
    }

    /// An HTTP/2 server at the end of `pipeline` whose every stream `configure` sets up; an
    /// error on the connection closes it.
    static func addHTTP2Server(
        to pipeline: ChannelPipeline.SynchronousOperations,
        streams configure: @escaping @Sendable (any Channel) throws -> Void
    ) throws {
        _ = try pipeline.configureHTTP2Pipeline(
            mode: .server,
            connectionConfiguration: .init(),
            streamConfiguration: .init()
        ) { stream in
            stream.eventLoop.makeCompletedFuture { try configure(stream) }
        }
        try pipeline.addHandler(H2ConnectionErrorCloser())
    }
}
