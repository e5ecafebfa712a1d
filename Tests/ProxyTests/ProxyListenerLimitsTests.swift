import MeshNet
import MeshTesting
import NIOCore
import NIOPosix
import Proxy
import Testing

/// The proxy's public listener tried as a peer that connects and never speaks, and as one that
/// opens more connections than allowed: both are closed, and a real peer is served afterwards.
@Suite(.timeLimit(.minutes(2))) struct ProxyListenerLimitsTests {
    let group = MultiThreadedEventLoopGroup.singleton
    let pki: TestPKI

    init() throws {
        self.pki = try TestPKI()
    }

    /// A raw TCP connection that sends nothing.
    func silentConnection(port: Int) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await ClientBootstrap(group: self.group).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    }

    /// Whether the far end closes `connection` within `deadline`.
    func closedByPeer(
        _ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
        within deadline: Duration
    ) async throws
        -> Bool
    {
        try await connection.executeThenClose { inbound, _ in
            try await withThrowingTaskGroup(of: Bool.self) { race in
                race.addTask {
                    do {
                        for try await _ in inbound {}
                    } catch {}
                    return true
                }
                race.addTask {
                    try await Task.sleep(for: deadline)
                    return false
                }
                defer { race.cancelAll() }
                return try await race.next() ?? false
            }
        }
    }

    @Test func aPeerThatNeverSendsAClientHelloIsClosedAndTheCapHolds() async throws {
        let app = try await startApp(name: "api-1", group: self.group)
        defer { app.close(promise: nil) }
        var options = ProxyOptions(publicBindHost: "127.0.0.1", connectTimeout: .seconds(2))
        options.publicLimits = ListenerLimits(maxConnections: 2, handshakeTimeout: .seconds(3), idleTimeout: nil)
        let snapshot = sidecar("api", appPort: try #require(app.localAddress?.port), defaultAllow: true)
        try await withProxy(snapshot, tls: try self.pki.tls(for: "api"), options: options, group: self.group) { api in
            let port = try #require(await api.boundPublicPort())
            let first = try await self.silentConnection(port: port)
            let second = try await self.silentConnection(port: port)
            let third = try await self.silentConnection(port: port)
            // Past the cap: closed at once; the silent ones: closed at their handshake deadline.
            #expect(try await self.closedByPeer(third, within: .seconds(30)))
            #expect(try await self.closedByPeer(first, within: .seconds(30)))
            #expect(try await self.closedByPeer(second, within: .seconds(30)))
            // A real peer proxy is served once they are gone (without spare connections, which
            // would take the two places ahead of need).
            var webOptions = ProxyOptions(publicBindHost: "127.0.0.1", connectTimeout: .seconds(2))
            webOptions.spareConnections = 0
            try await withProxy(
                sidecar("web", appPort: 1, upstreams: [upstream("api", ports: [port])]),
                tls: try self.pki.tls(for: "web"),
                options: webOptions,
                group: self.group
            ) { web in
                let upstreamPort = try #require(await web.boundUpstreamPort("api"))
                // The server notices the closes an instant after the client does.
                try await eventually(within: .seconds(30), "a call through the freed places") {
                    try await call(port: upstreamPort, group: self.group).hasPrefix("api-1")
                }
            }
        }
    }

    @Test func aSilentAppConnectionIsClosedAfterTheIdleTimeoutAndAnActiveOneIsNot() async throws {
        let app = try await startApp(name: "api-1", group: self.group)
        defer { app.close(promise: nil) }
        let api = sidecar("api", appPort: try #require(app.localAddress?.port), defaultAllow: true)
        try await withProxy(api, tls: try self.pki.tls(for: "api"), group: self.group) { api in
            let port = try #require(await api.boundPublicPort())
            var options = ProxyOptions(publicBindHost: "127.0.0.1", connectTimeout: .seconds(2))
            options.upstreamLimits = ListenerLimits(
                maxConnections: 100,
                handshakeTimeout: nil,
                idleTimeout: .seconds(1)
            )
            try await withProxy(
                sidecar("web", appPort: 1, upstreams: [upstream("api", ports: [port])]),
                tls: try self.pki.tls(for: "web"),
                options: options,
                group: self.group
            ) { web in
                let upstreamPort = try #require(await web.boundUpstreamPort("api"))
                let silent = try await self.silentConnection(port: upstreamPort)
                #expect(try await self.closedByPeer(silent, within: .seconds(30)))
                // A connection in use is not idle: a call still gets its answer.
                #expect(try await call(port: upstreamPort, group: self.group).hasPrefix("api-1"))
            }
        }
    }
}
