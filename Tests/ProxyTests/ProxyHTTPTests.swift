import Foundation
import Logging
import MeshCore
import MeshTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import Proxy
import Synchronization
import Testing

/// An `http` service's public listener: requests decoded and authorized one by one by the L7
/// intentions (Envoy's RBAC HTTP filter), over real sockets and mTLS.
@Suite(.timeLimit(.minutes(2))) struct ProxyHTTPTests {
    let group = MultiThreadedEventLoopGroup.singleton
    let pki: TestPKI

    init() throws {
        self.pki = try TestPKI()
    }

    /// An HTTP app that answers `<method> <path> from <client cert header>`.
    final class EchoHTTP: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        var head: HTTPRequestHead?
        let name: String

        init(name: String = "") {
            self.name = name
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch Self.unwrapInboundIn(data) {
            case .head(let head): self.head = head
            case .body: break
            case .end:
                guard let head = self.head else { return }
                let body =
                    self.name
                    + "\(head.method.rawValue) \(head.uri) from \(head.headers["X-Forwarded-Client-Cert"].first ?? "-")"
                    + (head.headers["X_User"].first.map { " x_user=\($0)" } ?? "")
                var headers = HTTPHeaders()
                headers.add(name: "Content-Length", value: "\(body.utf8.count)")
                context.write(
                    Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                    promise: nil
                )
                context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
                context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }

    /// Counts the connections an app accepted.
    final class Accepted: ChannelInboundHandler, Sendable {
        typealias InboundIn = Any
        private let count = Atomic<Int>(0)
        var value: Int { self.count.load(ordering: .relaxed) }

        func channelActive(context: ChannelHandlerContext) {
            self.count.add(1, ordering: .relaxed)
            context.fireChannelActive()
        }
    }

    func startHTTPApp(name: String = "", accepted: Accepted? = nil) async throws -> any Channel {
        try await ServerBootstrap(group: self.group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let accepted { try channel.pipeline.syncOperations.addHandler(accepted) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(EchoHTTP(name: name))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    /// Sends raw HTTP/1.1 on one connection and returns everything until the server closes it.
    /// web's proxy (long ejection) with `api` as an `http` upstream at `ports`; `body` gets the
    /// proxy and the port of its upstream listener.
    func withHTTPCaller(of ports: [Int], _ body: (ProxyRuntime, Int) async throws -> Void) async throws {
        var api = upstream("api", ports: ports)
        api.protocolName = "http"
        try await withProxy(
            sidecar("web", appPort: 1, upstreams: [api]),
            tls: try self.pki.tls(for: "web"),
            options: longEjection,
            group: self.group
        ) { web in
            try await body(web, try #require(await web.boundUpstreamPort("api")))
        }
    }

    func exchange(port: Int, _ requests: String) async throws -> String {
        let channel = try await ClientBootstrap(group: self.group).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: requests))
            var received = ""
            do {
                for try await chunk in inbound { received += String(buffer: chunk) }
            } catch {}
            return received
        }
    }

    /// An `http` pair: api (app: ``EchoHTTP``) allows web everything but `/admin`, with
    /// `normalization` as the mesh's; the body gets api's runtime and web's upstream port.
    func withAdminDeniedPair(
        normalization: RequestNormalization? = nil,
        _ body: (_ api: ProxyRuntime, _ port: Int) async throws -> Void
    ) async throws {
        let app = try await self.startHTTPApp()
        defer { app.close(promise: nil) }
        var snapshot = sidecar("api", appPort: app.localAddress!.port!, intentions: adminDenied)
        snapshot.protocolName = "http"
        snapshot.requestNormalization = normalization
        try await withProxy(snapshot, tls: try self.pki.tls(for: "api"), group: self.group) { api in
            let apiPort = try #require(await api.boundPublicPort())
            try await withProxy(
                sidecar("web", appPort: 1, upstreams: [upstream("api", ports: [apiPort])]),
                tls: try self.pki.tls(for: "web"),
                group: self.group
            ) { web in
                try await body(api, try #require(await web.boundUpstreamPort("api")))
            }
        }
    }

    @Test func theMeshNormalizationRedirectsUnescapedSlashesAndRefusesOrDropsUnderscoredHeaders() async throws {
        var redirecting = RequestNormalization.default
        redirecting.pathWithEscapedSlashesAction = .unescapeAndRedirect
        redirecting.headersWithUnderscoresAction = .rejectRequest
        try await self.withAdminDeniedPair(normalization: redirecting) { api, port in
            let answer = try await self.exchange(
                port: port,
                "GET /a%2Fb?q=1 HTTP/1.1\r\nHost: api\r\n\r\n"
                    + "GET /ok HTTP/1.1\r\nHost: api\r\nX_User: admin\r\nConnection: close\r\n\r\n"
            )
            #expect(answer.hasPrefix("HTTP/1.1 307 Temporary Redirect"), "\(answer)")
            #expect(answer.contains("Location: /a/b?q=1"), "\(answer)")
            #expect(answer.contains("HTTP/1.1 400 Bad Request"), "\(answer)")
            #expect(!answer.contains(" from URI="), "the app saw a request: \(answer)")
        }
        var dropping = RequestNormalization.default
        dropping.headersWithUnderscoresAction = .dropHeader
        try await self.withAdminDeniedPair(normalization: dropping) { api, port in
            let answer = try await self.exchange(
                port: port,
                "GET /ok HTTP/1.1\r\nHost: api\r\nX_User: admin\r\nConnection: close\r\n\r\n"
            )
            #expect(answer.hasPrefix("HTTP/1.1 200 OK"), "\(answer)")
            #expect(!answer.contains("x_user="), "\(answer)")
        }
        // Allowed by default: the app sees it (so the two checks above can fail).
        try await self.withAdminDeniedPair { api, port in
            let answer = try await self.exchange(
                port: port,
                "GET /ok HTTP/1.1\r\nHost: api\r\nX_User: admin\r\nConnection: close\r\n\r\n"
            )
            #expect(
                answer.contains("GET /ok from URI=spiffe://test.consul/ns/default/dc/dc1/svc/web x_user=admin"),
                "\(answer)"
            )
        }
    }

    @Test func l7IntentionsDecideEachRequestOnOneConnection() async throws {
        try await self.withAdminDeniedPair { api, port in
            // Three requests pipelined on one connection: allowed, denied, allowed, in order.
            let answer = try await self.exchange(
                port: port,
                "GET /hello HTTP/1.1\r\nHost: api\r\n\r\n" + "GET /admin/users HTTP/1.1\r\nHost: api\r\n\r\n"
                    + "POST /hello/again HTTP/1.1\r\nHost: api\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
            )
            let statuses = answer.components(separatedBy: "HTTP/1.1 ").dropFirst().map {
                "HTTP/1.1 " + ($0.components(separatedBy: "\r\n").first ?? "")
            }
            #expect(statuses == ["HTTP/1.1 200 OK", "HTTP/1.1 403 Forbidden", "HTTP/1.1 200 OK"], "\(answer)")
            #expect(answer.contains("GET /hello from URI=spiffe://test.consul/ns/default/dc/dc1/svc/web"))
            #expect(answer.contains("RBAC: access denied"))
            #expect(answer.contains("POST /hello/again"))
            #expect(!answer.contains("/admin/users from"))
            let metrics = String(decoding: api.metrics.render(), as: UTF8.self)
            #expect(metrics.contains("mesh_proxy_http_requests_total 3"))
            #expect(metrics.contains("mesh_proxy_intention_denials_total 1"))
        }
    }

    @Test func everySpellingOfADeniedPathIsDeniedAndTheAppSeesTheNormalizedPath() async throws {
        try await self.withAdminDeniedPair { api, port in
            let targets = [
                "//admin/users", "/%61dmin/users", "/x/../admin/users", "/x/%2e%2e/admin", "/./admin",
                "/admin%2Fusers", "/public//a/./b/../c?q=/../admin",
            ]
            let requests = targets.enumerated().map { index, target in
                "GET \(target) HTTP/1.1\r\nHost: api\r\n"
                    + (index == targets.count - 1 ? "Connection: close\r\n" : "") + "\r\n"
            }
            let answer = try await self.exchange(port: port, requests.joined())
            let statuses = answer.components(separatedBy: "HTTP/1.1 ").dropFirst().map {
                $0.components(separatedBy: "\r\n").first ?? ""
            }
            #expect(
                statuses == [
                    "403 Forbidden", "403 Forbidden", "403 Forbidden", "403 Forbidden", "403 Forbidden",
                    "400 Bad Request", "200 OK",
                ],
                "\(answer)"
            )
            // The app saw only the allowed request, with the path the intentions matched.
            #expect(answer.contains("GET /public/a/c?q=/../admin from URI="), "\(answer)")
            #expect(!answer.contains("admin/users from"))
            let metrics = String(decoding: api.metrics.render(), as: UTF8.self)
            #expect(metrics.contains("mesh_proxy_intention_denials_total 5"))
            #expect(metrics.contains("mesh_proxy_bad_requests_total 1"))
        }
    }

    @Test func anotherSourceIsDeniedByDefaultPerRequest() async throws {
        let app = try await self.startHTTPApp()
        defer { app.close(promise: nil) }
        var snapshot = sidecar("api", appPort: app.localAddress!.port!)
        snapshot.protocolName = "http"
        try await withProxy(snapshot, tls: try self.pki.tls(for: "api"), group: self.group) { api in
            let apiPort = try #require(await api.boundPublicPort())
            try await withProxy(
                sidecar("web", appPort: 1, upstreams: [upstream("api", ports: [apiPort])]),
                tls: try self.pki.tls(for: "web"),
                group: self.group
            ) { web in
                let port = try #require(await web.boundUpstreamPort("api"))
                let answer = try await self.exchange(
                    port: port,
                    "GET / HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n"
                )
                #expect(answer.hasPrefix("HTTP/1.1 403 Forbidden"), "\(answer)")
            }
        }
    }

    @Test func httpUpstreamsAreBalancedPerRequestOverPooledHTTP2() async throws {
        let appA = try await self.startHTTPApp(name: "a: ")
        let appB = try await self.startHTTPApp(name: "b: ")
        defer {
            appA.close(promise: nil)
            appB.close(promise: nil)
        }
        let intentions = adminDenied
        var snapshotA = sidecar("api", appPort: appA.localAddress!.port!, intentions: intentions)
        snapshotA.protocolName = "http"
        var snapshotB = sidecar("api", appPort: appB.localAddress!.port!, intentions: intentions)
        snapshotB.protocolName = "http"
        try await withProxy(snapshotA, tls: try self.pki.tls(for: "api"), group: self.group) { apiA in
            try await withProxy(snapshotB, tls: try self.pki.tls(for: "api"), group: self.group) { apiB in
                let dead = try ReservedPort()
                let deadPort = dead.port
                defer { withExtendedLifetime(dead) {} }
                let ports = [
                    deadPort, try #require(await apiA.boundPublicPort()), try #require(await apiB.boundPublicPort()),
                ]
                try await self.withHTTPCaller(of: ports) { web, port in
                    // Five requests pipelined on one app connection: each one is routed on its
                    // own (the dead endpoint's failure is retried and ejects it), the denied one
                    // answered 403 by the far proxy, all in order.
                    let requests =
                        (1...4).map { "GET /r\($0) HTTP/1.1\r\nHost: api\r\n\r\n" }.joined()
                        + "GET /admin/x HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n"
                    let answer = try await self.exchange(port: port, requests)
                    let bodies = answer.components(separatedBy: "\r\n\r\n").dropFirst().map {
                        $0.components(separatedBy: "HTTP/1.1").first ?? ""
                    }
                    let served = bodies.filter { $0.contains(" from URI=") }
                    #expect(served.count == 4, "\(answer)")
                    let order = served.map { String($0.prefix(1)) }
                    #expect(Set(order) == ["a", "b"], "\(answer)")
                    #expect(zip(order, order.dropFirst()).allSatisfy { $0 != $1 }, "\(order)")
                    for index in 1...4 {
                        #expect(answer.contains("GET /r\(index) from URI=\(TestPKI.identity("web"))"))
                    }
                    #expect(answer.contains("HTTP/1.1 403 Forbidden"), "\(answer)")
                    #expect(web.ejectedEndpoints("api").map(\.port) == [deadPort])
                    let metrics = String(decoding: web.metrics.render(), as: UTF8.self)
                    #expect(
                        metrics.contains(
                            #"mesh_proxy_requests_total{direction="outbound",upstream="api",status="200",grpc_status=""} 4"#
                        ),
                        "\(metrics)"
                    )
                    #expect(
                        metrics.contains(
                            #"mesh_proxy_requests_total{direction="outbound",upstream="api",status="403",grpc_status=""} 1"#
                        ),
                        "\(metrics)"
                    )
                    // Five requests, two proxy-to-proxy connections (one per live endpoint).
                    let handshakes = String(decoding: apiA.metrics.render(), as: UTF8.self)
                    #expect(handshakes.contains(#"mesh_proxy_tls_handshakes_total{side="server",result="ok"} 1"#))
                }
            }
        }
    }

    @Test(
        "a request whose far app is gone is refused there (REFUSED_STREAM), sent again elsewhere, and that endpoint ejected"
    )
    func aRequestRefusedByAStoppedAppIsSentElsewhere() async throws {
        let appB = try await self.startHTTPApp(name: "b: ")
        defer { appB.close(promise: nil) }
        // api-a's proxy runs, its app does not (stopped; not yet out of the catalog).
        let gone = try ReservedPort()
        defer { withExtendedLifetime(gone) {} }
        var snapshotA = sidecar("api", appPort: gone.port, intentions: [ProxyDataPathTests.allowWeb])
        snapshotA.protocolName = "http"
        var snapshotB = sidecar("api", appPort: appB.localAddress!.port!, intentions: [ProxyDataPathTests.allowWeb])
        snapshotB.protocolName = "http"
        try await withProxy(snapshotA, tls: try self.pki.tls(for: "api"), group: self.group) { apiA in
            try await withProxy(snapshotB, tls: try self.pki.tls(for: "api"), group: self.group) { apiB in
                let portA = try #require(await apiA.boundPublicPort())
                try await self.withHTTPCaller(of: [portA, try #require(await apiB.boundPublicPort())]) { web, port in
                    // Round robin sends one of the first two to api-a; with a body, so that the
                    // copy sent again is the whole request.
                    let requests =
                        (1...3).map { "POST /r\($0) HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\n\r\nhello" }.joined()
                        + "GET /r4 HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n"
                    let answer = try await self.exchange(port: port, requests)
                    for (index, method) in [(1, "POST"), (2, "POST"), (3, "POST"), (4, "GET")] {
                        #expect(answer.contains("b: \(method) /r\(index) from URI="), "\(answer)")
                    }
                    #expect(!answer.contains(" 503 "), "\(answer)")
                    #expect(web.ejectedEndpoints("api").map(\.port) == [portA])
                    let metrics = String(decoding: web.metrics.render(), as: UTF8.self)
                    #expect(metrics.contains("mesh_proxy_upstream_app_unavailable_total 1"), "\(metrics)")
                }
            }
        }
    }

    @Test func theStreamsOfOnePeerConnectionShareTheAppsKeepAliveConnection() async throws {
        let accepted = Accepted()
        let app = try await self.startHTTPApp(accepted: accepted)
        defer { app.close(promise: nil) }
        var snapshot = sidecar("api", appPort: app.localAddress!.port!, intentions: [ProxyDataPathTests.allowWeb])
        snapshot.protocolName = "http"
        try await withProxy(snapshot, tls: try self.pki.tls(for: "api"), group: self.group) { api in
            var upstreamAPI = upstream("api", ports: [try #require(await api.boundPublicPort())])
            upstreamAPI.protocolName = "http"
            try await withProxy(
                sidecar("web", appPort: 1, upstreams: [upstreamAPI]),
                tls: try self.pki.tls(for: "web"),
                group: self.group
            ) { web in
                let port = try #require(await web.boundUpstreamPort("api"))
                // Six requests, each its own stream between the proxies, one after another.
                let requests =
                    (1...5).map { "GET /r\($0) HTTP/1.1\r\nHost: api\r\n\r\n" }.joined()
                    + "GET /r6 HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n"
                let answer = try await self.exchange(port: port, requests)
                for index in 1...6 {
                    #expect(answer.contains("GET /r\(index) from URI=\(TestPKI.identity("web"))"), "\(answer)")
                }
                #expect(accepted.value == 1, "the app saw one connection, not one per request")
                // One proxy-to-proxy connection, made (and counted) once for the six requests.
                let metrics = String(decoding: web.metrics.render(), as: UTF8.self)
                #expect(
                    metrics.contains(#"mesh_proxy_tls_handshakes_total{side="client",result="ok"} 1"#),
                    "\(metrics)"
                )
            }
        }
    }
}
