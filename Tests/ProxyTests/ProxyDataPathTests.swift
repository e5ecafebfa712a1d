import Foundation
import Logging
import MeshCore
import MeshTesting
import NIOCore
import NIOPosix
import Proxy
import Synchronization
import Testing

/// The data path over real sockets: an app, its sidecar's public mTLS listener, and a client
/// sidecar's upstream listener, all in this process on loopback.
@Suite(.timeLimit(.minutes(2))) struct ProxyDataPathTests {
    let group = MultiThreadedEventLoopGroup.singleton
    let pki: TestPKI

    init() throws {
        self.pki = try TestPKI()
    }

    /// One call on a new connection, and the reply it must get ("" for an empty reply).
    private func expectReply(
        _ port: Int,
        _ expected: String,
        sending message: String = "ping\n",
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let reply = try await call(port: port, message, group: self.group)
        #expect(reply == expected, sourceLocation: sourceLocation)
    }

    static let allowWeb = Intention(sourceName: "web", destinationName: "api", action: .allow)

    /// Runs an app and its `api` sidecar, then a `web` sidecar with an upstream to it.
    private func withPair<T: Sendable>(
        intentions: [Intention] = [ProxyDataPathTests.allowWeb],
        spares: Int = 32,
        _ body: (_ web: ProxyRuntime, _ api: ProxyRuntime, _ upstreamPort: Int) async throws -> T
    ) async throws -> T {
        let app = try await startApp(name: "api-1", group: self.group)
        defer { app.close(promise: nil) }
        return try await withProxy(
            sidecar("api", appPort: app.localAddress!.port!, intentions: intentions),
            tls: try self.pki.tls(for: "api"),
            group: self.group
        ) { api in
            let apiPort = try #require(await api.boundPublicPort())
            return try await withProxy(
                sidecar("web", appPort: 1, upstreams: [upstream("api", ports: [apiPort])]),
                tls: try self.pki.tls(for: "web"),
                options: ProxyOptions(
                    publicBindHost: "127.0.0.1",
                    connectTimeout: .seconds(2),
                    spareConnections: spares
                ),
                group: self.group
            ) { web in
                try await body(web, api, try #require(await web.boundUpstreamPort("api")))
            }
        }
    }

    @Test func anAllowedCallCrossesBothProxiesOverMTLS() async throws {
        // Without spares, so that the one call is the one handshake on each side.
        try await self.withPair(spares: 0) { web, api, port in
            try await self.expectReply(port, "api-1:ping\n")
            let inbound = String(decoding: api.metrics.render(), as: UTF8.self)
            #expect(inbound.contains(#"mesh_proxy_tls_handshakes_total{side="server",result="ok"} 1"#))
            let outbound = String(decoding: web.metrics.render(), as: UTF8.self)
            #expect(outbound.contains(#"mesh_proxy_tls_handshakes_total{side="client",result="ok"} 1"#))
        }
    }

    @Test func aDeniedSourceGetsAnEmptyReply() async throws {
        try await self.withPair(intentions: [Intention(sourceName: "web", destinationName: "api", action: .deny)]) {
            _,
            api,
            port in
            try await self.expectReply(port, "")
            #expect(
                String(decoding: api.metrics.render(), as: UTF8.self).contains("mesh_proxy_intention_denials_total 1")
            )
        }
    }

    @Test func defaultDenyWithoutAnIntention() async throws {
        try await self.withPair(intentions: []) { _, _, port in
            try await self.expectReply(port, "")
        }
    }

    @Test func anExactDenyBeatsTheWildcardAllow() async throws {
        let intentions = [
            Intention(sourceName: "*", destinationName: "api", action: .allow),
            Intention(sourceName: "web", destinationName: "api", action: .deny),
        ]
        try await self.withPair(intentions: intentions) { _, _, port in
            try await self.expectReply(port, "")
        }
    }

    @Test func anIntentionChangeAppliesToNewConnectionsAndKeepsOpenOnes() async throws {
        try await self.withPair { _, api, port in
            // An open connection through both proxies.
            let open = try await ClientBootstrap(group: self.group).connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
            try await open.executeThenClose { inbound, outbound in
                var replies = inbound.makeAsyncIterator()
                try await outbound.write(ByteBuffer(string: "one\n"))
                #expect(try await replies.next().map { String(buffer: $0) } == "api-1:one\n")

                var denied = try #require(api.snapshot)
                denied.intentions = [Intention(sourceName: "web", destinationName: "api", action: .deny)]
                try await api.apply(denied, tls: try self.pki.tls(for: "api"))

                try await self.expectReply(port, "")
                try await outbound.write(ByteBuffer(string: "two\n"))
                #expect(try await replies.next().map { String(buffer: $0) } == "api-1:two\n")
            }
        }
    }

    @Test func roundRobinSpreadsCallsOverEveryInstance() async throws {
        var apps: [any Channel] = []
        defer { apps.forEach { $0.close(promise: nil) } }
        var runtimes: [ProxyRuntime] = []
        defer { for runtime in runtimes { Task { await runtime.stop() } } }
        var ports: [Int] = []
        for index in 1...3 {
            let app = try await startApp(name: "api-\(index)", group: self.group)
            apps.append(app)
            let runtime = ProxyRuntime(
                options: ProxyOptions(publicBindHost: "127.0.0.1"),
                group: self.group,
                metrics: ProxyMetrics(),
                logger: .init(label: "test")
            )
            try await runtime.apply(
                sidecar("api", appPort: app.localAddress!.port!, intentions: [Self.allowWeb]),
                tls: try self.pki.tls(for: "api")
            )
            runtimes.append(runtime)
            ports.append(try #require(await runtime.boundPublicPort()))
        }
        try await withProxy(
            sidecar("web", appPort: 1, upstreams: [upstream("api", ports: ports)]),
            tls: try self.pki.tls(for: "web"),
            group: self.group
        ) { web in
            let port = try #require(await web.boundUpstreamPort("api"))
            var replies: [String] = []
            for _ in 0..<6 {
                let reply = try await call(port: port, group: self.group)
                replies.append(reply)
            }
            #expect(
                replies == [
                    "api-1:ping\n", "api-2:ping\n", "api-3:ping\n", "api-1:ping\n", "api-2:ping\n", "api-3:ping\n",
                ]
            )
        }
    }

    @Test func aDeadEndpointIsRetriedElsewhereAndEjected() async throws {
        let app = try await startApp(name: "api-1", group: self.group)
        defer { app.close(promise: nil) }
        // A port nothing listens on, held so that no other test's listener takes it.
        let dead = try ReservedPort()
        let deadPort = dead.port
        defer { withExtendedLifetime(dead) {} }
        try await withProxy(
            sidecar("api", appPort: app.localAddress!.port!, intentions: [Self.allowWeb]),
            tls: try self.pki.tls(for: "api"),
            group: self.group
        ) { api in
            let apiPort = try #require(await api.boundPublicPort())
            try await withProxy(
                sidecar("web", appPort: 1, upstreams: [upstream("api", ports: [deadPort, apiPort])]),
                tls: try self.pki.tls(for: "web"),
                options: longEjection,
                group: self.group
            ) { web in
                let port = try #require(await web.boundUpstreamPort("api"))
                for _ in 0..<4 {
                    try await self.expectReply(port, "api-1:ping\n")
                }
                #expect(web.ejectedEndpoints("api").map(\.port) == [deadPort])
            }
        }
    }

    /// The case a rolling deploy hits (issue 18): a server's app has exited while its proxy
    /// still runs and its instance is still in the catalog. The far proxy says so before the
    /// app's bytes reached anything (PeerStatus.unavailable), so the client's proxy sends the
    /// same bytes to another instance and ejects the one whose app is gone: every call gets its
    /// answer, with or without connections made ahead of need.
    @Test(arguments: [0, 8])
    func aStoppedAppBehindALiveProxyIsRetriedElsewhereAndEjected(spares: Int) async throws {
        let app = try await startApp(name: "api-1", group: self.group)
        defer { app.close(promise: nil) }
        let gone = try ReservedPort()
        defer { withExtendedLifetime(gone) {} }
        try await withProxy(
            sidecar("api", appPort: app.localAddress!.port!, intentions: [Self.allowWeb]),
            tls: try self.pki.tls(for: "api"),
            group: self.group
        ) { live in
            try await withProxy(
                sidecar("api", appPort: gone.port, intentions: [Self.allowWeb]),
                tls: try self.pki.tls(for: "api"),
                group: self.group
            ) { stopped in
                let livePort = try #require(await live.boundPublicPort())
                let stoppedPort = try #require(await stopped.boundPublicPort())
                var options = longEjection
                options.spareConnections = spares
                try await withProxy(
                    sidecar("web", appPort: 1, upstreams: [upstream("api", ports: [stoppedPort, livePort])]),
                    tls: try self.pki.tls(for: "web"),
                    options: options,
                    group: self.group
                ) { web in
                    let port = try #require(await web.boundUpstreamPort("api"))
                    for index in 0..<6 {
                        try await self.expectReply(port, "api-1:call-\(index)\n", sending: "call-\(index)\n")
                    }
                    #expect(web.ejectedEndpoints("api").map(\.port) == [stoppedPort])
                    // Once: the ejected endpoint is not tried again.
                    let outbound = String(decoding: web.metrics.render(), as: UTF8.self)
                    #expect(outbound.contains("mesh_proxy_upstream_app_unavailable_total 1"), "\(outbound)")
                    let inbound = String(decoding: stopped.metrics.render(), as: UTF8.self)
                    #expect(inbound.contains("mesh_proxy_app_connect_failures_total 1"), "\(inbound)")
                }
            }
        }
    }

    /// Every instance's app gone: the app's connection closes (empty reply) after one try
    /// elsewhere, and both endpoints leave the rotation; a denial is not retried.
    @Test func whenNoAppIsLeftTheCallEndsAndEveryEndpointIsEjected() async throws {
        let goneA = try ReservedPort()
        let goneB = try ReservedPort()
        defer { withExtendedLifetime((goneA, goneB)) {} }
        try await withProxy(
            sidecar("api", appPort: goneA.port, intentions: [Self.allowWeb]),
            tls: try self.pki.tls(for: "api"),
            group: self.group
        ) { first in
            try await withProxy(
                sidecar("api", appPort: goneB.port, intentions: [Self.allowWeb]),
                tls: try self.pki.tls(for: "api"),
                group: self.group
            ) { second in
                let ports = [try #require(await first.boundPublicPort()), try #require(await second.boundPublicPort())]
                try await withProxy(
                    sidecar("web", appPort: 1, upstreams: [upstream("api", ports: ports)]),
                    tls: try self.pki.tls(for: "web"),
                    options: longEjection,
                    group: self.group
                ) { web in
                    let port = try #require(await web.boundUpstreamPort("api"))
                    try await self.expectReply(port, "")
                    #expect(web.ejectedEndpoints("api").map(\.port).sorted() == ports.sorted())
                }
            }
        }
    }

    @Test func anEndpointWithTheWrongIdentityIsRefused() async throws {
        let app = try await startApp(name: "impostor", group: self.group)
        defer { app.close(promise: nil) }
        // A proxy that presents "billing" while the catalog says it is "api".
        try await withProxy(
            sidecar("billing", appPort: app.localAddress!.port!, defaultAllow: true),
            tls: try self.pki.tls(for: "billing"),
            group: self.group
        ) { impostor in
            let port = try #require(await impostor.boundPublicPort())
            try await withProxy(
                sidecar("web", appPort: 1, upstreams: [upstream("api", ports: [port])]),
                tls: try self.pki.tls(for: "web"),
                group: self.group
            ) { web in
                let local = try #require(await web.boundUpstreamPort("api"))
                try await self.expectReply(local, "")
                #expect(
                    String(decoding: web.metrics.render(), as: UTF8.self).contains(
                        "mesh_proxy_identity_mismatches_total 1"
                    )
                )
            }
        }
    }

    @Test func aPeerFromAnotherTrustDomainIsDenied() async throws {
        let app = try await startApp(name: "api-1", group: self.group)
        defer { app.close(promise: nil) }
        try await withProxy(
            sidecar("api", appPort: app.localAddress!.port!, defaultAllow: true),
            tls: try self.pki.tls(for: "api"),
            group: self.group
        ) { api in
            let apiPort = try #require(await api.boundPublicPort())
            try await withProxy(
                sidecar("web", appPort: 1, upstreams: [upstream("api", ports: [apiPort])]),
                tls: try self.pki.tls(for: "web", trustDomain: "elsewhere.consul"),
                group: self.group
            ) { web in
                let port = try #require(await web.boundUpstreamPort("api"))
                try await self.expectReply(port, "")
            }
        }
    }

    @Test func aPlainConnectionToThePublicListenerGetsNothing() async throws {
        try await self.withPair { _, api, _ in
            let port = try #require(await api.boundPublicPort())
            try await self.expectReply(port, "", sending: "GET / HTTP/1.0\r\n\r\n")
        }
    }

    @Test func aLeafRotationKeepsOpenConnectionsAndServesNewOnes() async throws {
        try await self.withPair { web, _, port in
            let open = try await ClientBootstrap(group: self.group).connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
            try await open.executeThenClose { inbound, outbound in
                var replies = inbound.makeAsyncIterator()
                try await outbound.write(ByteBuffer(string: "one\n"))
                #expect(try await replies.next().map { String(buffer: $0) } == "api-1:one\n")
                // A new leaf for web (new key), as at renewal.
                try await web.apply(try #require(web.snapshot), tls: try self.pki.tls(for: "web"))
                try await self.expectReply(port, "api-1:ping\n")
                try await outbound.write(ByteBuffer(string: "two\n"))
                #expect(try await replies.next().map { String(buffer: $0) } == "api-1:two\n")
            }
        }
    }

    @Test func aBadSnapshotIsRefusedAndTheOldOneStays() async throws {
        try await self.withPair { web, _, port in
            var bad = try #require(web.snapshot)
            bad.upstreams[0].expectedIdentity = "not-a-spiffe-id"
            await #expect(throws: ProxyError.self) {
                try await web.apply(bad, tls: try self.pki.tls(for: "web"))
            }
            try await self.expectReply(port, "api-1:ping\n")
        }
    }

    @Test func aDrainRefusesNewConnectionsAtOnceAndEndsOnlyAfterTheAppExits() async throws {
        // Below the ephemeral range: once closed, no other test's listener can answer on its port.
        let app = try await startApp(name: "api-1", group: self.group, belowEphemeralRange: true)
        let appPort = try #require(app.localAddress?.port)
        let runtime = try await drainableProxy(
            sidecar("api", appPort: appPort, defaultAllow: true),
            tls: try self.pki.tls(for: "api"),
            drainDeadline: .seconds(60),
            group: self.group
        )
        let port = try #require(await runtime.boundPublicPort())
        let done = ManagedAtomicFlag()
        let drained = Task {
            await runtime.drain()
            done.set()
        }
        func accepted() -> String {
            String(decoding: runtime.metrics.render(), as: UTF8.self).split(separator: "\n")
                .first { $0.hasPrefix(#"mesh_proxy_connections_total{direction="inbound"}"#) }.map(String.init) ?? ""
        }
        let before = accepted()
        try await eventually("the public listener to close") { await runtime.boundPublicPort() == nil }
        // A new connection is refused, or (when another test's listener took the freed port at
        // once) at least never reaches this proxy.
        if let channel = try? await ClientBootstrap(group: self.group).connect(host: "127.0.0.1", port: port).get() {
            try? await channel.close()
        }
        #expect(accepted() == before)
        #expect(!runtime.isReady)
        // The app still runs, so the drain goes on; once it has exited, the drain ends (the
        // suite's time limit catches a drain that never ends).
        #expect(!done.isSet)
        try await app.close()
        await drained.value
        #expect(done.isSet)
    }
}

extension ProxyDataPathTests {
    @Test func aDrainDoesNotTakeAnAppThatAnswersSlowlyForAnExitedOne() async throws {
        // A listener with a full accept queue: the kernel drops further SYNs, so a connect to it
        // times out, as to an app on a starved host. It has not exited: the drain must go on to
        // its deadline (it ended at the first timed-out probe before).
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(listener, pointer, length) == 0 && listen(listener, 0) == 0
                    && getsockname(listener, pointer, &length) == 0
            }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let filler = try await ClientBootstrap(group: self.group).connect(host: "127.0.0.1", port: port).get()
        defer { filler.close(promise: nil) }
        await #expect(throws: ChannelError.self, "the queue is full: a further connect times out") {
            try await ClientBootstrap(group: self.group).connectTimeout(.milliseconds(300))
                .connect(host: "127.0.0.1", port: port).get()
        }

        let runtime = try await drainableProxy(
            sidecar("api", appPort: port, defaultAllow: true),
            tls: try self.pki.tls(for: "api"),
            drainDeadline: .seconds(4),
            group: self.group
        )
        let start = ContinuousClock.now
        await runtime.drain()
        #expect(ContinuousClock.now - start >= .seconds(3), "the drain waited for its deadline")
    }
}

/// A flag set once, read from any task.
final class ManagedAtomicFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { self.value.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { self.value.load(ordering: .sequentiallyConsistent) }
}
