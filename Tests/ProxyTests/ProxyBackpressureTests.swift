import Foundation
import MeshCore
import MeshTesting
import NIOCore
import NIOPosix
import Proxy
import Synchronization
import Testing

/// An app that reads only every 50 ms (NIO reads up to 4 x 64 KiB then: about 5 MiB/s at most)
/// and never answers.
final class SlowReader: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let received = Atomic<Int>(0)

    func channelActive(context: ChannelHandlerContext) {
        let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(50), delay: .milliseconds(50)) { task in
            guard loopContext.value.channel.isActive else {
                task.cancel()
                return
            }
            loopContext.value.read()
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.received.add(Self.unwrapInboundIn(data).readableBytes, ordering: .relaxed)
    }
}

/// A permitted peer that streams a large body to a slow app must be held back by TCP, not
/// buffered by the proxy (issue 14, item 7).
@Suite(.timeLimit(.minutes(2))) struct ProxyBackpressureTests {
    let group = MultiThreadedEventLoopGroup.singleton
    let pki: TestPKI

    init() throws {
        self.pki = try TestPKI()
    }

    @Test("a 1 GiB upload to a slow app: the sender is held back and the proxy's memory stays bounded")
    func largeBodyToSlowAppIsHeldBack() async throws {
        let reader = SlowReader()
        let app = try await ServerBootstrap(group: self.group)
            .childChannelOption(.autoRead, value: false)
            .childChannelOption(.socketOption(.so_rcvbuf), value: 64 * 1024)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(reader) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { app.close(promise: nil) }
        var snapshot = sidecar("api", appPort: app.localAddress!.port!, defaultAllow: true)
        snapshot.protocolName = "http"
        try await withProxy(snapshot, tls: try self.pki.tls(for: "api"), group: self.group) { api in
            let apiPort = try #require(await api.boundPublicPort())
            var web = sidecar("web", appPort: 1, upstreams: [upstream("api", ports: [apiPort])])
            web.upstreams[0].protocolName = "http"
            try await withProxy(web, tls: try self.pki.tls(for: "web"), group: self.group) { web in
                let port = try #require(await web.boundUpstreamPort("api"))
                let before = residentBytes()
                let sent = try await Self.upload(port: port, size: 1 << 30, for: .seconds(6), group: self.group)
                let received = reader.received.load(ordering: .relaxed)
                let growth = residentBytes() - before
                // Without backpressure the proxies take in as much as the sender can encrypt
                // (all of the 1 GiB within 4 s, measured); with it, what is in flight is socket buffers and
                // watermarks on each leg.
                #expect(received > 1 << 20, "the app got data")
                #expect(sent - received < 32 << 20, "sent \(sent), app received \(received)")
                #expect(growth < 96 << 20, "resident memory grew by \(growth) bytes")
            }
        }
    }

    /// Writes an HTTP/1.1 upload of `size` bytes to `port` as fast as the connection takes it,
    /// for `duration`; the bytes written.
    static func upload(port: Int, size: Int, for duration: Duration, group: any EventLoopGroup) async throws -> Int {
        let channel = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        let deadline = ContinuousClock.now + duration
        return try await channel.executeThenClose { _, outbound in
            try await outbound.write(
                ByteBuffer(string: "POST /upload HTTP/1.1\r\nHost: api\r\nContent-Length: \(size)\r\n\r\n")
            )
            let chunk = ByteBuffer(repeating: 0x61, count: 64 * 1024)
            var sent = 0
            // Each write waits while the connection takes no more; the app drains 64 KiB every 50 ms.
            while ContinuousClock.now < deadline, sent < size {
                try await outbound.write(chunk)
                sent += chunk.readableBytes
            }
            return sent
        }
    }
}
