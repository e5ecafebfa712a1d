import Logging
import MeshCore
import MeshTesting
import NIOCore
import NIOPosix
import NIOSSL
import Proxy
import Synchronization
import Testing

/// Connections to `tcp` upstreams made ahead of need: a new app connection rides a ready one, and
/// the far proxy connects to its app only when a spare is put to use.
@Suite(.timeLimit(.minutes(2))) struct SpareConnectionTests {
    let pki: TestPKI

    init() throws {
        self.pki = try TestPKI()
    }

    /// An app that counts the connections it accepted and, when `greeting` is set, speaks first
    /// (as MySQL or SMTP servers do), then echoes with its name.
    private final class CountingApp: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let accepted: AcceptCount
        let greeting: String?

        init(accepted: AcceptCount, greeting: String?) {
            self.accepted = accepted
            self.greeting = greeting
        }

        func channelActive(context: ChannelHandlerContext) {
            self.accepted.value.add(1, ordering: .relaxed)
            if let greeting = self.greeting {
                context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(string: greeting)), promise: nil)
            }
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var reply = ByteBuffer(string: "app:")
            var received = Self.unwrapInboundIn(data)
            reply.writeBuffer(&received)
            context.writeAndFlush(Self.wrapOutboundOut(reply), promise: nil)
        }
    }

    /// The app, its `api` sidecar, and a `web` sidecar on ONE event loop (spares are per loop)
    /// with an upstream to it.
    private func withMesh(
        greeting: String? = nil,
        spares: Int = 32,
        apiOptions: ProxyOptions = ProxyOptions(publicBindHost: "127.0.0.1", connectTimeout: .seconds(2)),
        _ body: (_ web: ProxyRuntime, _ api: ProxyRuntime, _ port: Int, _ accepted: @Sendable () -> Int) async throws
            -> Void
    ) async throws {
        let counter = AcceptCount()
        let app = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        CountingApp(accepted: counter, greeting: greeting)
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { app.close(promise: nil) }
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { loop.shutdownGracefully { _ in } }
        try await withProxy(
            sidecar("api", appPort: app.localAddress!.port!, intentions: [ProxyDataPathTests.allowWeb]),
            tls: try self.pki.tls(for: "api"),
            options: apiOptions,
            group: MultiThreadedEventLoopGroup.singleton
        ) { api in
            let apiPort = try #require(await api.boundPublicPort())
            try await withProxy(
                sidecar("web", appPort: 1, upstreams: [upstream("api", ports: [apiPort])]),
                tls: try self.pki.tls(for: "web"),
                options: ProxyOptions(
                    publicBindHost: "127.0.0.1",
                    connectTimeout: .seconds(2),
                    spareConnections: spares
                ),
                group: loop
            ) { web in
                let port = try #require(await web.boundUpstreamPort("api"))
                try await body(web, api, port) { counter.value.load(ordering: .relaxed) }
            }
        }
    }

    private func metric(_ runtime: ProxyRuntime, _ line: String) -> Bool {
        String(decoding: runtime.metrics.render(), as: UTF8.self).contains(line)
    }

    @Test func aNewConnectionRidesASpareAndTheAppSeesItOnlyThen() async throws {
        try await self.withMesh { web, api, port, accepted in
            #expect(try await call(port: port, group: MultiThreadedEventLoopGroup.singleton) == "app:ping\n")
            // A spare is made after the first connection: a second handshake on each side ...
            try await eventually("a spare made") {
                self.metric(api, #"mesh_proxy_tls_handshakes_total{side="server",result="ok"} 2"#)
            }
            // ... that opens nothing at the app while it waits.
            #expect(accepted() == 1)
            #expect(self.metric(web, "mesh_proxy_upstream_spares_used_total 0"))

            #expect(
                try await call(port: port, "again\n", group: MultiThreadedEventLoopGroup.singleton) == "app:again\n"
            )
            #expect(self.metric(web, "mesh_proxy_upstream_spares_used_total 1"))
            #expect(accepted() == 2)
        }
    }

    @Test func aServerThatSpeaksFirstIsHeardOverASpare() async throws {
        try await self.withMesh(greeting: "hello\n") { web, api, port, _ in
            let first = try await self.converse(port)
            #expect(first == ["hello\n", "app:ping\n"])
            try await eventually("a spare made") {
                self.metric(api, #"mesh_proxy_tls_handshakes_total{side="server",result="ok"} 2"#)
            }
            let second = try await self.converse(port)
            #expect(
                second == ["hello\n", "app:ping\n"],
                "the greeting comes first, the activation byte is not forwarded"
            )
            #expect(self.metric(web, "mesh_proxy_upstream_spares_used_total 1"))
        }
    }

    /// A peer (any holder of a mesh certificate) that opens spares and never uses them cannot
    /// hold them open past the activation deadline; a spare the peer does use later is redialled.
    @Test func aSpareNeverActivatedIsClosedAtItsDeadline() async throws {
        var apiOptions = ProxyOptions(publicBindHost: "127.0.0.1", connectTimeout: .seconds(2))
        apiOptions.spareActivationTimeout = .milliseconds(300)
        try await self.withMesh(apiOptions: apiOptions) { web, api, port, accepted in
            #expect(try await call(port: port, group: MultiThreadedEventLoopGroup.singleton) == "app:ping\n")
            try await eventually("the spare closed by api at its deadline") {
                self.metric(api, "mesh_proxy_spares_expired_total 1")
            }
            // web drops the closed spare (once it has read the close) and dials afresh.
            try await eventually("a later connection served") {
                (try? await call(port: port, "again\n", group: MultiThreadedEventLoopGroup.singleton)) == "app:again\n"
            }
            #expect(accepted() >= 2)
        }
    }

    @Test func sparesOffMeansEveryConnectionHandshakes() async throws {
        try await self.withMesh(spares: 0) { web, api, port, accepted in
            for _ in 0..<3 {
                let reply = try await call(port: port, group: MultiThreadedEventLoopGroup.singleton)
                #expect(reply == "app:ping\n")
            }
            #expect(self.metric(api, #"mesh_proxy_tls_handshakes_total{side="server",result="ok"} 3"#))
            #expect(self.metric(web, "mesh_proxy_upstream_spares_used_total 0"))
            #expect(accepted() == 3)
        }
    }

    @Test func aDrainClosesPeersWaitingSparesAndEndsWhenTheAppExits() async throws {
        let app = try await startApp(
            name: "api-1",
            group: MultiThreadedEventLoopGroup.singleton,
            belowEphemeralRange: true
        )
        let api = try await drainableProxy(
            sidecar("api", appPort: try #require(app.localAddress?.port), intentions: [ProxyDataPathTests.allowWeb]),
            tls: try self.pki.tls(for: "api"),
            drainDeadline: .seconds(60),
            group: MultiThreadedEventLoopGroup.singleton
        )
        let apiPort = try #require(await api.boundPublicPort())
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { loop.shutdownGracefully { _ in } }
        try await withProxy(
            sidecar("web", appPort: 1, upstreams: [upstream("api", ports: [apiPort])]),
            tls: try self.pki.tls(for: "web"),
            group: loop
        ) { web in
            let port = try #require(await web.boundUpstreamPort("api"))
            #expect(try await call(port: port, group: MultiThreadedEventLoopGroup.singleton) == "api-1:ping\n")
            try await eventually("a spare made") {
                self.metric(api, #"mesh_proxy_tls_handshakes_total{side="server",result="ok"} 2"#)
            }
            let drained = Task { await api.drain() }
            // The spare waiting at api is closed by the drain; web notices and drops it.
            try await eventually("web's spare dropped") { web.sparesIdle == 0 }
            try await app.close()
            let start = ContinuousClock.now
            await drained.value
            #expect(ContinuousClock.now - start < .seconds(20), "the drain ended with the app, not at its deadline")
        }
    }

    @Test("a spare the drain closes says 'unavailable' first, so a request racing the close goes elsewhere")
    func aDrainedSpareSaysUnavailable() async throws {
        let app = try await startApp(name: "api-1", group: MultiThreadedEventLoopGroup.singleton)
        defer { app.close(promise: nil) }
        let api = try await drainableProxy(
            sidecar("api", appPort: try #require(app.localAddress?.port), intentions: [ProxyDataPathTests.allowWeb]),
            tls: try self.pki.tls(for: "api"),
            drainDeadline: .seconds(1),
            group: MultiThreadedEventLoopGroup.singleton
        )
        let apiPort = try #require(await api.boundPublicPort())
        // A spare as web's proxy makes one: mTLS as web, ALPN mesh-spare/2, nothing sent.
        let web = try self.pki.tls(for: "web")
        let spare = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: apiPort) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: web.clientSpare, serverHostname: nil)
                    )
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await eventually("api holds the spare") {
            self.metric(api, #"mesh_proxy_tls_handshakes_total{side="server",result="ok"} 1"#)
        }
        await api.drain()
        let received = try await spare.executeThenClose { inbound, _ in
            var bytes: [UInt8] = []
            do {
                for try await chunk in inbound { bytes += Array(buffer: chunk) }
            } catch {
                // The close that follows the status may be abrupt; the status came first.
            }
            return bytes
        }
        #expect(received == [0x18], "the unavailable status, then the close (before: a close without a byte)")
    }

    /// Connects, reads the greeting, sends "ping\n", reads the reply.
    private func converse(_ port: Int) async throws -> [String] {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var lines: [String] = []
            var pending = ""
            var sent = false
            for try await chunk in inbound {
                pending += String(buffer: chunk)
                while let newline = pending.firstIndex(of: "\n") {
                    lines.append(String(pending[...newline]))
                    pending = String(pending[pending.index(after: newline)...])
                }
                if !sent, !lines.isEmpty {
                    sent = true
                    try await outbound.write(ByteBuffer(string: "ping\n"))
                }
                if lines.count >= 2 { break }
            }
            return lines
        }
    }
}

/// The connections an app accepted, shared with its handlers.
private final class AcceptCount: Sendable {
    let value = Atomic<Int>(0)
}
