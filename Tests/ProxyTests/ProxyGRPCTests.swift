import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import MeshCore
import MeshProto
import MeshTesting
import NIOCore
import NIOHTTP2
import NIOPosix
import Proxy
import SwiftProtobuf
import Synchronization
import Testing

/// A `grpc` service through a proxy pair: real grpc-swift client and servers, HTTP/2 decoded on
/// both sides, each request balanced, authorized and counted on its own.
@Suite(.timeLimit(.minutes(1))) struct ProxyGRPCTests {
    let group = MultiThreadedEventLoopGroup.singleton
    let pki: TestPKI

    init() throws {
        self.pki = try TestPKI()
    }

    /// A gRPC app (the distributor's contract, for want of a smaller one): `SignLeaf` answers
    /// `<name> <csr> <caller's x-forwarded-client-cert>` and fails NOT_FOUND for the CSR
    /// "missing"; `Stream` answers every hello with a push named after it.
    struct Backend: Mesh_V1_ConfigDistributor.ServiceProtocol {
        let name: String

        func signLeaf(
            request: ServerRequest<Mesh_V1_SignLeafRequest>,
            context: ServerContext
        ) async throws -> ServerResponse<Mesh_V1_SignResponse> {
            if request.message.csrPem == "missing" { throw RPCError(code: .notFound, message: "no such thing") }
            let caller = request.metadata[stringValues: "x-forwarded-client-cert"].first { _ in true } ?? "-"
            return ServerResponse(
                message: .with { $0.certificatePem = "\(self.name) \(request.message.csrPem) \(caller)" }
            )
        }

        func stream(
            request: StreamingServerRequest<Mesh_V1_ProxyStreamRequest>,
            context: ServerContext
        ) async throws -> StreamingServerResponse<Mesh_V1_ProxySnapshotPush> {
            StreamingServerResponse { writer in
                for try await message in request.messages {
                    try await writer.write(.with { $0.version = "\(self.name):\(message.hello.proxyID)" })
                }
                return [:]
            }
        }
    }

    /// Runs gRPC servers named `names` on loopback; the body gets their ports.
    func withBackends<T: Sendable>(_ names: [String], _ body: ([Int]) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var servers: [GRPCServer<HTTP2ServerTransport.Posix>] = []
            var ports: [Int] = []
            for name in names {
                let server = GRPCServer(
                    transport: HTTP2ServerTransport.Posix(
                        address: .ipv4(host: "127.0.0.1", port: 0),
                        transportSecurity: .plaintext
                    ),
                    services: [Backend(name: name)]
                )
                group.addTask { try await server.serve() }
                servers.append(server)
                let address = try #require(try await server.listeningAddress?.ipv4)
                ports.append(address.port)
            }
            defer {
                for server in servers { server.beginGracefulShutdown() }
            }
            return try await body(ports)
        }
    }

    /// A gRPC client of the upstream listener on `port` (clear-text HTTP/2, as an app speaks to its sidecar).
    /// web's proxy (long ejection) with `api` as a `grpc` upstream at `ports`; `body` gets the
    /// proxy and the port of its upstream listener.
    func withGRPCCaller(of ports: [Int], _ body: (ProxyRuntime, Int) async throws -> Void) async throws {
        try await withProxy(
            sidecar("web", appPort: 1, upstreams: [self.grpcUpstream("api", ports: ports)]),
            tls: try self.pki.tls(for: "web"),
            options: longEjection,
            group: self.group
        ) { web in
            try await body(web, try #require(await web.boundUpstreamPort("api")))
        }
    }

    func withClient<T: Sendable>(
        port: Int,
        _ body: (Mesh_V1_ConfigDistributor.Client<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        try await withGRPCClient(
            transport: try HTTP2ClientTransport.Posix(
                target: .ipv4(address: "127.0.0.1", port: port),
                transportSecurity: .plaintext
            )
        ) { client in
            try await body(Mesh_V1_ConfigDistributor.Client(wrapping: client))
        }
    }

    func grpcSidecar(_ service: String, appPort: Int, intentions: [Intention] = []) -> ProxySnapshot {
        var snapshot = sidecar(service, appPort: appPort, intentions: intentions)
        snapshot.protocolName = "grpc"
        return snapshot
    }

    func grpcUpstream(_ service: String, ports: [Int]) -> ProxyUpstream {
        var upstream = upstream(service, ports: ports)
        upstream.protocolName = "grpc"
        return upstream
    }

    static let webMayCall = [
        Intention(
            sourceName: "web",
            destinationName: "api",
            permissions: [
                IntentionPermission(
                    action: .allow,
                    http: IntentionHTTPPermission(pathExact: "/mesh.v1.ConfigDistributor/SignLeaf")
                ),
                IntentionPermission(
                    action: .allow,
                    http: IntentionHTTPPermission(pathExact: "/mesh.v1.ConfigDistributor/Stream")
                ),
            ]
        )
    ]

    @Test func requestsOnOneConnectionAreBalancedAuthorizedAndCountedOneByOne() async throws {
        try await self.withBackends(["a", "b"]) { apps in
            let tlsA = try self.pki.tls(for: "api")
            let tlsB = try self.pki.tls(for: "api")
            try await withProxy(
                self.grpcSidecar("api", appPort: apps[0], intentions: Self.webMayCall),
                tls: tlsA,
                group: self.group
            ) { apiA in
                try await withProxy(
                    self.grpcSidecar("api", appPort: apps[1], intentions: Self.webMayCall),
                    tls: tlsB,
                    group: self.group
                ) { apiB in
                    let ports = [
                        try #require(await apiA.boundPublicPort()), try #require(await apiB.boundPublicPort()),
                    ]
                    // A port where nothing listens comes first: its failure is retried elsewhere
                    // and ejects it, so no call fails.
                    let dead = try ReservedPort()
                    let deadPort = dead.port
                    defer { withExtendedLifetime(dead) {} }
                    try await self.withGRPCCaller(of: [deadPort] + ports) { web, port in
                        try await self.withClient(port: port) { client in
                            // Unary calls on one HTTP/2 connection from the app alternate between
                            // the two healthy instances: balancing is per request.
                            var answers: [String] = []
                            for index in 0..<6 {
                                let reply = try await client.signLeaf(.with { $0.csrPem = "call\(index)" })
                                answers.append(reply.certificatePem)
                            }
                            let names = answers.map { $0.split(separator: " ").first.map(String.init) ?? "" }
                            #expect(Set(names) == ["a", "b"], "\(answers)")
                            #expect(zip(names, names.dropFirst()).allSatisfy { $0 != $1 }, "\(names)")
                            #expect(answers.allSatisfy { $0.hasSuffix("URI=\(TestPKI.identity("web"))") }, "\(answers)")
                            #expect(web.ejectedEndpoints("api").map(\.port) == [deadPort])

                            // A gRPC error status travels back in the trailers, and is counted.
                            await #expect {
                                _ = try await client.signLeaf(.with { $0.csrPem = "missing" })
                            } throws: { error in
                                (error as? RPCError)?.code == .notFound
                            }

                            // A bidirectional stream crosses both proxies message by message.
                            let pushes = try await client.stream(
                                requestProducer: { writer in
                                    for id in ["p1", "p2", "p3"] {
                                        try await writer.write(.with { $0.hello.proxyID = id })
                                    }
                                },
                                onResponse: { response in
                                    var versions: [String] = []
                                    for try await push in response.messages { versions.append(push.version) }
                                    return versions
                                }
                            )
                            #expect(
                                pushes.map { $0.split(separator: ":").last.map(String.init) } == ["p1", "p2", "p3"]
                            )
                        }
                        let metrics = String(decoding: web.metrics.render(), as: UTF8.self)
                        #expect(
                            metrics.contains(
                                #"mesh_proxy_requests_total{direction="outbound",upstream="api",status="200",grpc_status="5"} 1"#
                            ),
                            "\(metrics)"
                        )
                        #expect(
                            metrics.contains(
                                #"mesh_proxy_requests_total{direction="outbound",upstream="api",status="200",grpc_status="0"} 7"#
                            ),
                            "\(metrics)"
                        )
                    }
                }
            }
        }
    }

    /// Four calls through web's proxy to `api`, balanced over api-a (its proxy in front of the
    /// app at `appPortA`, which processes no call) and api-b (a real app "b"): each must be
    /// answered by b, and api-a ejected. `alongside` runs beside the calls (the test's part of
    /// api-a's failure); `check` gets web's proxy afterwards.
    func expectCallsSentElsewhere(
        from appPortA: Int,
        alongside: @escaping @Sendable () async throws -> Void = {},
        check: (ProxyRuntime) throws -> Void = { _ in }
    ) async throws {
        try await self.withBackends(["b"]) { apps in
            try await withProxy(
                self.grpcSidecar("api", appPort: appPortA, intentions: Self.webMayCall),
                tls: try self.pki.tls(for: "api"),
                group: self.group
            ) { apiA in
                try await withProxy(
                    self.grpcSidecar("api", appPort: apps[0], intentions: Self.webMayCall),
                    tls: try self.pki.tls(for: "api"),
                    group: self.group
                ) { apiB in
                    let portA = try #require(await apiA.boundPublicPort())
                    let portB = try #require(await apiB.boundPublicPort())
                    try await self.withGRPCCaller(of: [portA, portB]) { web, port in
                        try await self.withClient(port: port) { client in
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                group.addTask { try await alongside() }
                                for index in 0..<4 {
                                    let reply = try await client.signLeaf(.with { $0.csrPem = "call\(index)" })
                                    #expect(reply.certificatePem.hasPrefix("b call\(index)"), "\(reply.certificatePem)")
                                }
                                try await group.waitForAll()
                            }
                        }
                        #expect(web.ejectedEndpoints("api").map(\.port) == [portA])
                        try check(web)
                    }
                }
            }
        }
    }

    @Test(
        "a call whose far app is gone is refused there (REFUSED_STREAM), sent again elsewhere, and that endpoint ejected"
    )
    func aCallRefusedByAStoppedAppIsSentElsewhere() async throws {
        // api-a's proxy runs, its app does not (stopped; not yet out of the catalog).
        let gone = try ReservedPort()
        defer { withExtendedLifetime(gone) {} }
        try await self.expectCallsSentElsewhere(
            from: gone.port,
            check: { web in
                let metrics = String(decoding: web.metrics.render(), as: UTF8.self)
                #expect(metrics.contains("mesh_proxy_upstream_app_unavailable_total 1"), "\(metrics)")
            }
        )
    }

    @Test(
        "a call whose app connection sees no HTTP/2 preface is refused and sent elsewhere: reset in the app's listen backlog (the app stopping), or silent past the connect deadline",
        arguments: [true, false]
    )
    func aCallOnAnAppConnectionNeverAcceptedIsSentElsewhere(listenerCloses: Bool) async throws {
        // api-a's app queues connections but takes none: it is stopping (its listener then
        // closes, which resets the proxy's connection) or hung (the proxy gives up on it).
        let stopping = try SilentListener()
        try await self.expectCallsSentElsewhere(from: stopping.port) {
            let queued = try await stopping.waitForConnection(deadline: .seconds(30))
            #expect(queued)
            if listenerCloses { stopping.close() }
        }
    }

    /// An HTTP/2 app that is going away: on each request's HEADERS it sends GOAWAY saying it
    /// processed no stream (last stream 0), and answers nothing.
    final class GoingAwayStream: ChannelInboundHandler {
        typealias InboundIn = HTTP2Frame.FramePayload

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .headers = Self.unwrapInboundIn(data), let connection = context.channel.parent else { return }
            let goAway = HTTP2Frame(
                streamID: .rootStream,
                payload: .goAway(lastStreamID: .rootStream, errorCode: .noError, opaqueData: nil)
            )
            connection.writeAndFlush(goAway, promise: nil)
        }
    }

    /// An app that quiesces every connection as it opens it: its preface (SETTINGS) and a GOAWAY
    /// in one write, then nothing (what it is sent is read and dropped).
    final class QuiescingApp: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        static let settingsThenGoAway: [UInt8] =
            [0, 0, 0, 4, 0, 0, 0, 0, 0] + [0, 0, 8, 7, 0, 0, 0, 0, 0] + [
                0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0,
            ]

        func channelActive(context: ChannelHandlerContext) {
            context.writeAndFlush(NIOAny(ByteBuffer(bytes: Self.settingsThenGoAway)), promise: nil)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
    }

    enum GoingAway: CaseIterable {
        /// The app's GOAWAY leaves the request's stream out (the app processed none).
        case leftOut
        /// The app quiesced the connection before the request's HEADERS could be sent on it.
        case quiescedFirst
    }

    @Test(
        "a call an app going away never processed is sent elsewhere: left out of its GOAWAY (NIOHTTP2 reports CANCEL), or never sent on the connection it quiesced",
        arguments: GoingAway.allCases
    )
    func aCallAnAppGoingAwayNeverProcessedIsSentElsewhere(_ goingAway: GoingAway) async throws {
        let app = try await ServerBootstrap(group: self.group)
            .childChannelInitializer { channel in
                switch goingAway {
                case .leftOut:
                    channel.configureHTTP2Pipeline(mode: .server) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(GoingAwayStream())
                        }
                    }.map { _ in }
                case .quiescedFirst:
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(QuiescingApp())
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { app.close(promise: nil) }
        try await self.expectCallsSentElsewhere(from: try #require(app.localAddress?.port))
    }

    @Test func l7IntentionsDenyPerMethodWithPermissionDenied() async throws {
        let onlySignLeaf = [
            Intention(
                sourceName: "web",
                destinationName: "api",
                permissions: [
                    IntentionPermission(
                        action: .allow,
                        http: IntentionHTTPPermission(pathExact: "/mesh.v1.ConfigDistributor/SignLeaf")
                    )
                ]
            )
        ]
        try await self.withBackends(["a"]) { apps in
            try await withProxy(
                self.grpcSidecar("api", appPort: apps[0], intentions: onlySignLeaf),
                tls: try self.pki.tls(for: "api"),
                group: self.group
            ) { api in
                let apiPort = try #require(await api.boundPublicPort())
                for caller in ["web", "other"] {
                    try await withProxy(
                        sidecar(caller, appPort: 1, upstreams: [self.grpcUpstream("api", ports: [apiPort])]),
                        tls: try self.pki.tls(for: caller),
                        group: self.group
                    ) { proxy in
                        let port = try #require(await proxy.boundUpstreamPort("api"))
                        try await self.withClient(port: port) { client in
                            if caller == "web" {
                                let reply = try await client.signLeaf(.with { $0.csrPem = "x" })
                                #expect(reply.certificatePem.hasPrefix("a x "))
                            } else {
                                await #expect {
                                    _ = try await client.signLeaf(.with { $0.csrPem = "x" })
                                } throws: { error in
                                    (error as? RPCError)?.code == .permissionDenied
                                }
                            }
                            // The stream method is not in web's permissions: denied for both.
                            await #expect {
                                try await client.stream(
                                    requestProducer: { writer in
                                        try await writer.write(.with { $0.hello.proxyID = "p" })
                                    },
                                    onResponse: { response in
                                        for try await _ in response.messages {}
                                    }
                                )
                            } throws: { error in
                                (error as? RPCError)?.code == .permissionDenied
                            }
                        }
                    }
                }
                let metrics = String(decoding: api.metrics.render(), as: UTF8.self)
                #expect(metrics.contains("mesh_proxy_intention_denials_total 3"), "\(metrics)")
            }
        }
    }
}
