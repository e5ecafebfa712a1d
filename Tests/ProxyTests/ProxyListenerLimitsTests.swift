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

    @Test func aPeerThatNeverSendsAClientHelloIsClosedAndTheCapHolds() async throws {
        let app = try await startApp(name: "api-1", group: self.group)
        defer { app.close(promise: nil) }
        var options = ProxyOptions(publicBindHost: "127.0.0.1", connectTimeout: .seconds(2))
        options.publicLimits = ListenerLimits(maxConnections: 2, handshakeTimeout: .seconds(3), idleTimeout: nil)
        let snapshot = sidecar("api", appPort: try #require(app.localAddress?.port), defaultAllow: true)
        try await withProxy(snapshot, tls: try self.pki.tls(for: "api"), options: options, group: self.group) { api in
            let port = try #require(await api.boundPublicPort())
            let first = try await silentConnection(port: port)
            let second = try await silentConnection(port: port)
            let third = try await silentConnection(port: port)
            // Past the cap: closed at once; the silent ones: closed at their handshake deadline.
            #expect(try await closedByPeer(third, within: .seconds(30)))
            #expect(try await closedByPeer(first, within: .seconds(30)))
            #expect(try await closedByPeer(second, within: .seconds(30)))
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
                let silent = try await silentConnection(port: upstreamPort)
                #expect(try await closedByPeer(silent, within: .seconds(30)))
                // A connection in use is not idle: a call still gets its answer.
                #expect(try await call(port: upstreamPort, group: self.group).hasPrefix("api-1"))
            }
        }
    }
}
