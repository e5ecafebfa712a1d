import ConfigDistributor
import ControlPlaneHarness
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import MeshCore
import MeshProto
import MeshRPC
import MeshTLS
import MeshTesting
import Testing

/// The distributor against real catalog-svc, authz-svc and ca-svc (ACLs on, default deny), over
/// real gRPC streams.
@Suite(.timeLimit(.minutes(4))) struct ConfigDistributorTests {
    /// The whole control plane in this process; the body gets the catalog's REST API (management
    /// token), authz-svc's and the distributor's gRPC address.
    func withControlPlane(
        _ body: @Sendable (_ catalog: TestAPI, _ authz: AuthzUnderTest, _ distributor: HostPort) async throws -> Void
    ) async throws {
        try await withAuthz { authz in
            try await withCatalogAndGRPC(enforcedBy: authz) { catalog, catalogGRPC in
                try await withCA(authz: authz) { caGRPC in
                    try await withDistributor(catalog: catalogGRPC, authz: authz, ca: caGRPC) { _, grpc in
                        try await body(catalog.with(token: managementSecret), authz, grpc)
                    }
                }
            }
        }
    }

    /// Registers `service` instance `id` and its sidecar (public port `proxyPort`) on node n1.
    static func register(
        _ catalog: TestAPI,
        service: String,
        id: String,
        appPort: Int,
        proxyPort: Int,
        upstreams: [(String, Int)] = [],
        status: String = "passing"
    ) async throws {
        let sidecar: [String: Any] = [
            "ID": "\(id)-sidecar-proxy", "Service": "\(service)-sidecar-proxy", "Kind": "connect-proxy",
            "Port": proxyPort, "Address": "127.0.0.1",
            "Proxy": [
                "DestinationServiceName": service, "DestinationServiceID": id, "LocalServicePort": appPort,
                "Upstreams": upstreams.map { ["DestinationName": $0.0, "LocalBindPort": $0.1] },
            ] as [String: Any],
        ]
        let answer = try await catalog.put(
            "/v1/catalog/register",
            json: [
                "Node": "n1", "Address": "127.0.0.1", "Service": sidecar,
                "Checks": [
                    ["CheckID": "\(id)-alive", "Name": "alive", "ServiceID": "\(id)-sidecar-proxy", "Status": status]
                ],
            ] as [String: Any]
        )
        #expect(answer.status == 200, "register \(id): \(answer.text)")
    }

    @Test func aProxyGetsItsSnapshotThenEveryRelevantChange() async throws {
        try await self.withControlPlane { catalog, authz, distributor in
            try await Self.register(catalog, service: "api", id: "api-1", appPort: 9001, proxyPort: 21001)
            try await Self.register(catalog, service: "api", id: "api-2", appPort: 9002, proxyPort: 21002)
            try await Self.register(
                catalog,
                service: "web",
                id: "web-1",
                appPort: 8080,
                proxyPort: 21000,
                upstreams: [("api", 9191)]
            )
            try await withStream(distributor, proxyID: "web-1-sidecar-proxy", service: "web") { probe in
                let (first, snapshot) = try await probe.next()
                #expect(snapshot.service == "web")
                #expect(snapshot.publicPort == 21000)
                #expect(snapshot.localAppPort == 8080)
                #expect(!snapshot.defaultAllow)
                #expect(!snapshot.rootsPEM.isEmpty)
                #expect(snapshot.trustDomain.hasSuffix(".consul"))
                let upstream = try #require(snapshot.upstreams.first)
                #expect(upstream.service == "api" && upstream.localPort == 9191)
                #expect(upstream.endpoints.map(\.port) == [21001, 21002])
                #expect(upstream.expectedIdentity == "spiffe://\(snapshot.trustDomain)/ns/default/dc/dc1/svc/api")
                #expect(first.version == snapshot.version)
                probe.ack(first)

                // api-2's sidecar fails: it leaves web's upstream.
                try await Self.register(
                    catalog,
                    service: "api",
                    id: "api-2",
                    appPort: 9002,
                    proxyPort: 21002,
                    status: "critical"
                )
                let (second, afterFailure) = try await probe.next()
                #expect(afterFailure.upstreams.first?.endpoints.map(\.port) == [21001])
                #expect(second.version != first.version)
                probe.ack(second)

                // An intention to web arrives in web's snapshot.
                let created = try await authz.admin.put(
                    "/v1/connect/intentions/exact?source=*&destination=web",
                    json: ["Action": "deny"]
                )
                #expect(created.status == 200)
                let (_, afterIntention) = try await probe.next()
                #expect(afterIntention.intentions.map(\.sourceName) == ["*"])
                #expect(afterIntention.upstreams.first?.endpoints.map(\.port) == [21001])
            }
        }
    }

    @Test func protocolsFollowServiceDefaultsAndProxyDefaults() async throws {
        try await self.withControlPlane { catalog, _, distributor in
            try await Self.register(catalog, service: "api", id: "api-1", appPort: 9001, proxyPort: 21001)
            try await Self.register(
                catalog,
                service: "web",
                id: "web-1",
                appPort: 8080,
                proxyPort: 21000,
                upstreams: [("api", 9191)]
            )
            try await withStream(distributor, proxyID: "web-1-sidecar-proxy", service: "web") { probe in
                let (first, snapshot) = try await probe.next()
                #expect(snapshot.protocolName == "tcp")
                #expect(snapshot.upstreams.first?.protocolName == "tcp")
                probe.ack(first)

                // The upstream's service-defaults reach the upstream, not web's own listener.
                let api = try await catalog.put(
                    "/v1/config",
                    json: ["Kind": "service-defaults", "Name": "api", "Protocol": "grpc"]
                )
                #expect(api.status == 200, "\(api.text)")
                let (second, afterAPI) = try await probe.next()
                #expect(afterAPI.upstreams.first?.protocolName == "grpc")
                #expect(afterAPI.protocolName == "tcp")
                probe.ack(second)

                // proxy-defaults changes the default for web, not for api (its own entry wins).
                let global = try await catalog.put(
                    "/v1/config",
                    json: ["Kind": "proxy-defaults", "Name": "global", "Config": ["protocol": "http"]] as [String: Any]
                )
                #expect(global.status == 200, "\(global.text)")
                let (third, afterGlobal) = try await probe.next()
                #expect(afterGlobal.protocolName == "http")
                #expect(afterGlobal.upstreams.first?.protocolName == "grpc")
                probe.ack(third)

                // Deleting api's entry makes it follow the default.
                let deleted = try await catalog.delete("/v1/config/service-defaults/api")
                #expect(deleted.status == 200)
                let (_, afterDelete) = try await probe.next()
                #expect(afterDelete.upstreams.first?.protocolName == "http")
            }
        }
    }

    @Test func theMeshEntrysRequestNormalizationReachesTheProxy() async throws {
        try await self.withControlPlane { catalog, _, distributor in
            try await Self.register(catalog, service: "web", id: "web-1", appPort: 8080, proxyPort: 21000)
            try await withStream(distributor, proxyID: "web-1-sidecar-proxy", service: "web") { probe in
                let (first, snapshot) = try await probe.next()
                #expect(snapshot.requestNormalization == nil)
                probe.ack(first)
                let mesh = try await catalog.put(
                    "/v1/config",
                    json: [
                        "Kind": "mesh",
                        "HTTP": [
                            "Incoming": [
                                "RequestNormalization": [
                                    "MergeSlashes": false, "PathWithEscapedSlashesAction": "UNESCAPE_AND_FORWARD",
                                    "HeadersWithUnderscoresAction": "DROP_HEADER",
                                ]
                            ]
                        ],
                    ] as [String: Any]
                )
                #expect(mesh.status == 200, "\(mesh.text)")
                let (second, after) = try await probe.next()
                #expect(
                    after.requestNormalization
                        == RequestNormalization(
                            mergeSlashes: false,
                            pathWithEscapedSlashesAction: .unescapeAndForward,
                            headersWithUnderscoresAction: .dropHeader
                        )
                )
                probe.ack(second)
                #expect(try await catalog.delete("/v1/config/mesh/mesh").status == 200)
                let (_, deleted) = try await probe.next()
                #expect(deleted.requestNormalization == nil)
            }
        }
    }

    @Test func aStreamOpenedBeforeRegistrationGetsItsConfigOnceRegistered() async throws {
        try await self.withControlPlane { catalog, _, distributor in
            try await withStream(distributor, proxyID: "web-1-sidecar-proxy", service: "web") { probe in
                try await Self.register(catalog, service: "web", id: "web-1", appPort: 8080, proxyPort: 21000)
                let (_, snapshot) = try await probe.next()
                #expect(snapshot.publicPort == 21000)
                #expect(snapshot.upstreams.isEmpty)
            }
        }
    }

    @Test func aReconnectingProxyIsNotSentTheVersionItHasAndANackIsCounted() async throws {
        try await self.withControlPlane { catalog, _, distributor in
            try await Self.register(catalog, service: "api", id: "api-1", appPort: 9001, proxyPort: 21001)
            try await Self.register(
                catalog,
                service: "web",
                id: "web-1",
                appPort: 8080,
                proxyPort: 21000,
                upstreams: [("api", 9191)]
            )
            let version = try await withStream(distributor, proxyID: "web-1-sidecar-proxy", service: "web") { probe in
                let (push, _) = try await probe.next()
                probe.ack(push, error: "listener 9191: address in use")
                return push.version
            }
            try await withStream(
                distributor,
                proxyID: "web-1-sidecar-proxy",
                service: "web",
                currentVersion: version
            ) { probe in
                // Nothing is sent for the version the proxy has; the next change is.
                try await Self.register(catalog, service: "api", id: "api-2", appPort: 9002, proxyPort: 21002)
                let (push, snapshot) = try await probe.next()
                #expect(push.version != version)
                #expect(snapshot.upstreams.first?.endpoints.map(\.port) == [21001, 21002])
            }
        }
    }

    @Test func aTokenWithoutServiceWriteGetsNoConfig() async throws {
        try await self.withControlPlane { catalog, _, distributor in
            try await Self.register(catalog, service: "web", id: "web-1", appPort: 8080, proxyPort: 21000)
            let error = await #expect(throws: RPCError.self) {
                try await withStream(distributor, token: nil, proxyID: "web-1-sidecar-proxy", service: "web") { probe in
                    _ = try await probe.next()
                }
            }
            #expect(error?.code == .permissionDenied)
        }
    }

    @Test func aStreamThatNeverSaysHelloEndsAndAnAnonymousOneIsRefusedAtOnce() async throws {
        try await self.withControlPlane { _, _, distributor in
            let silent = await #expect(throws: RPCError.self) {
                try await withStream(distributor, proxyID: "x", service: "web", sendHello: false) { probe in
                    _ = try await probe.next()
                }
            }
            #expect(silent?.code == .deadlineExceeded, "\(String(describing: silent))")
            // Anonymous (default deny): refused before any hello, so not after the hello deadline.
            let anonymous = await #expect(throws: RPCError.self) {
                try await withStream(distributor, token: nil, proxyID: "x", service: "web", sendHello: false) {
                    probe in _ = try await probe.next()
                }
            }
            #expect(anonymous?.code == .permissionDenied, "\(String(describing: anonymous))")
        }
    }

    @Test func aHelloWithoutProxyIDIsRefused() async throws {
        try await self.withControlPlane { _, _, distributor in
            let error = await #expect(throws: RPCError.self) {
                try await withStream(distributor, proxyID: "", service: "web") { probe in
                    _ = try await probe.next()
                }
            }
            #expect(error?.code == .invalidArgument)
        }
    }

    @Test func signLeafRelaysTheCSRWithTheProxysToken() async throws {
        try await self.withControlPlane { catalog, _, distributor in
            try await Self.register(catalog, service: "web", id: "web-1", appPort: 8080, proxyPort: 21000)
            let trustDomain = try await withStream(distributor, proxyID: "web-1-sidecar-proxy", service: "web") {
                probe in try await probe.next().1.trustDomain
            }
            let uri = "spiffe://\(trustDomain)/ns/default/dc/dc1/svc/web"
            let (_, csr) = try KeyAndCSR.makeCSR(spiffeURI: uri)
            var request = Mesh_V1_SignLeafRequest()
            request.csrPem = csr
            try await withGRPCClient(
                transport: try HTTP2ClientTransport.Posix(
                    target: .ipv4(address: distributor.host, port: distributor.port),
                    transportSecurity: .plaintext
                )
            ) { client in
                let relay = Mesh_V1_ConfigDistributor.Client(wrapping: client)
                let signed = try await relay.signLeaf(request, metadata: metadata(token: managementSecret))
                #expect(signed.spiffeID == uri)
                #expect(signed.certificatePem.contains("BEGIN CERTIFICATE"))
                let refused = await #expect(throws: RPCError.self) {
                    _ = try await relay.signLeaf(request, metadata: metadata(token: nil))
                }
                #expect(refused?.code == .permissionDenied, "\(String(describing: refused))")
            }
        }
    }
}
