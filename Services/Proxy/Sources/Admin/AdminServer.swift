import Logging
import MeshCore
public import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The admin listener (127.0.0.1:19000 by default, as Envoy's): `/ready`, `/metrics`, `/config`.
///
/// A few lines of NIOHTTP1 rather than a web framework: it serves three GETs, and the proxy's
/// footprint matters more than routing features.
public enum AdminServer {
    /// Binds the admin listener; the returned channel is closed to stop it.
    public static func start(
        host: String,
        port: Int,
        runtime: ProxyRuntime,
        group: any EventLoopGroup
    ) async throws -> any Channel {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(runtime: runtime))
                }
            }
            .bind(host: host, port: port).get()
        runtime.logger.info(
            "admin listening",
            metadata: [LogKey.address: "\(host):\(channel.localAddress?.port ?? port)"]
        )
        return channel
    }

    /// Whether a proxy's admin listener at `host:port` answers `GET /ready` with 200 (a raw
    /// HTTP/1.0 exchange: the health check runs in the proxy's image, which has no curl).
    public static func isReady(host: String, port: Int, timeout: Duration = .seconds(2)) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(timeout))
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            return try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "GET /ready HTTP/1.0\r\nHost: \(host)\r\n\r\n"))
                var answer = ""
                for try await chunk in inbound {
                    answer += String(buffer: chunk)
                    if answer.contains("\r\n") { break }
                }
                return answer.hasPrefix("HTTP/1.0 200") || answer.hasPrefix("HTTP/1.1 200")
            }
        } catch {
            return false
        }
    }

    /// The `/config` document: the snapshot in force, its version, bound ports and ejected endpoints.
    static func configDocument(runtime: ProxyRuntime) async -> [UInt8] {
        struct Upstream: Encodable {
            var boundPort: Int?
            var ejected: [ProxyEndpoint]
        }
        struct Document: Encodable {
            var version: String?
            var snapshot: ProxySnapshot?
            var publicPort: Int?
            var upstreams: [String: Upstream]
        }
        let snapshot = runtime.snapshot
        var upstreams: [String: Upstream] = [:]
        for upstream in snapshot?.upstreams ?? [] {
            upstreams[upstream.service] = Upstream(
                boundPort: await runtime.boundUpstreamPort(upstream.service),
                ejected: runtime.ejectedEndpoints(upstream.service)
            )
        }
        let document = Document(
            version: snapshot?.version,
            snapshot: snapshot,
            publicPort: await runtime.boundPublicPort(),
            upstreams: upstreams
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array((try? encoder.encode(document)) ?? Data("{}".utf8))
    }
}

final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let runtime: ProxyRuntime
    private var head: HTTPRequestHead?

    init(runtime: ProxyRuntime) {
        self.runtime = runtime
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            self.respond(context: context, head: head)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard head.method == .GET || head.method == .HEAD else {
            self.write(context: context, head: head, status: .methodNotAllowed, body: Array("GET only\n".utf8))
            return
        }
        switch path {
        case "/ready":
            let ready = self.runtime.isReady
            self.write(
                context: context,
                head: head,
                status: ready ? .ok : .serviceUnavailable,
                body: Array((ready ? "LIVE\n" : "NOT READY\n").utf8)
            )
        case "/metrics", "/stats/prometheus":
            self.write(
                context: context,
                head: head,
                status: .ok,
                body: self.runtime.metrics.render(),
                contentType: "text/plain; version=0.0.4"
            )
        case "/config", "/config_dump":
            let runtime = self.runtime
            let loop = context.eventLoop
            let promise = loop.makePromise(of: [UInt8].self)
            promise.completeWithTask { await AdminServer.configDocument(runtime: runtime) }
            promise.futureResult.assumeIsolated().whenSuccess { body in
                self.write(context: context, head: head, status: .ok, body: body, contentType: "application/json")
            }
        default:
            self.write(context: context, head: head, status: .notFound, body: Array("not found\n".utf8))
        }
    }

    private func write(
        context: ChannelHandlerContext,
        head: HTTPRequestHead,
        status: HTTPResponseStatus,
        body: [UInt8],
        contentType: String = "text/plain"
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.count)")
        context.write(
            Self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil
        )
        if head.method != .HEAD {
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        }
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
    }
}
