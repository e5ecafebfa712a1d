import ConfigDistributor
import ControlPlaneHarness
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import MeshCore
import MeshNet
import MeshProto
import MeshRPC
import MeshTesting
import MeshWorkload
import NIOCore
import NIOPosix
import Proxy
import Testing

/// Two proxies in dynamic mode against the real control plane: each makes its key, gets its
/// leaf through the distributor's CSR relay and its config from the stream; the call between
/// them works, and keeps working once the distributor is gone (static stability).
@Suite(.timeLimit(.minutes(4))) struct DynamicProxyTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test("a proxy without the control plane's CA refuses a distributor outside loopback: no token in clear")
    func plaintextOutsideLoopbackRefused() throws {
        func settings(_ host: String, ca: String? = nil) -> DynamicSettings {
            DynamicSettings(
                distributorHost: host,
                distributorPort: 8510,
                proxyID: "web-1-sidecar-proxy",
                service: "web",
                token: "secret",
                datacenter: "dc1",
                distributorCAPEM: ca
            )
        }
        #expect(throws: PlaintextDialRefused.self) {
            _ = try DistributorClient(settings: settings("10.1.2.3"), logger: testLogger)
        }
        #expect(throws: PlaintextDialRefused.self) {
            _ = try DistributorClient(settings: settings("distributor.internal"), logger: testLogger)
        }
        _ = try DistributorClient(settings: settings("127.0.0.1"), logger: testLogger)
        _ = try DistributorClient(settings: settings("10.1.2.3", ca: "PEM"), logger: testLogger)
    }

    @Test func proxiesConfiguredByTheDistributorKeepServingWhenItStops() async throws {
        let app = try await startApp(name: "api-1", group: self.group)
        defer { app.close(promise: nil) }
        let appPort = try #require(app.localAddress?.port)
        let apiProxyPort = try FreePort.pick()
        let upstreamPort = try FreePort.pick()
        let options = ProxyOptions(publicBindHost: "127.0.0.1", connectTimeout: .seconds(2))
        let api = ProxyRuntime(options: options, group: self.group, metrics: ProxyMetrics(), logger: testLogger)
        let web = ProxyRuntime(options: options, group: self.group, metrics: ProxyMetrics(), logger: testLogger)
        let group = self.group
        try await withAuthz { authz in
            try await withCatalogAndGRPC(enforcedBy: authz) { catalogAPI, catalogGRPC in
                try await withCA(authz: authz) { caGRPC in
                    let catalog = catalogAPI.with(token: managementSecret)
                    try await ConfigDistributorTests.register(
                        catalog,
                        service: "api",
                        id: "api-1",
                        appPort: appPort,
                        proxyPort: apiProxyPort
                    )
                    try await ConfigDistributorTests.register(
                        catalog,
                        service: "web",
                        id: "web-1",
                        appPort: 8080,
                        proxyPort: try FreePort.pick(),
                        upstreams: [("api", upstreamPort)]
                    )
                    let allowed = try await authz.admin.put(
                        "/v1/connect/intentions/exact?source=web&destination=api",
                        json: ["Action": "allow"]
                    )
                    #expect(allowed.status == 200)
                    let clients = try await withDistributor(catalog: catalogGRPC, authz: authz, ca: caGRPC) {
                        _,
                        address in
                        func client(_ id: String, _ service: String) throws -> DistributorClient {
                            try DistributorClient(
                                settings: DynamicSettings(
                                    distributorHost: address.host,
                                    distributorPort: address.port,
                                    proxyID: id,
                                    service: service,
                                    token: managementSecret
                                ),
                                logger: testLogger
                            )
                        }
                        let apiClient = try client("api-1-sidecar-proxy", "api")
                        let webClient = try client("web-1-sidecar-proxy", "web")
                        let tasks = [
                            Task { await apiClient.run(runtime: api) },
                            Task { await webClient.run(runtime: web) },
                        ]
                        try await eventually(within: .seconds(30), "a call through both proxies") {
                            (try? await call(port: upstreamPort, group: group)) == "api-1:ping\n"
                        }
                        #expect(api.snapshot?.publicPort == apiProxyPort)
                        #expect(web.snapshot?.upstreams.first?.expectedIdentity.hasSuffix("/svc/api") == true)
                        return tasks
                    }
                    defer { for task in clients { task.cancel() } }
                    // The distributor has stopped: both proxies serve on their last config and leaves.
                    #expect(try await call(port: upstreamPort, group: group) == "api-1:ping\n")
                    #expect(api.isReady && web.isReady)
                }
            }
        }
        await api.stop()
        await web.stop()
    }

    /// Two distributor replicas, no balancer: the proxy is given both addresses, streams from the
    /// first, and when that replica stops it moves to the other and keeps following changes.
    @Test func aProxyWhoseReplicaStopsMovesToAnotherAndFollowsChanges() async throws {
        let appA = try await startApp(name: "api-1", group: self.group)
        let appB = try await startApp(name: "api-2", group: self.group)
        defer {
            appA.close(promise: nil)
            appB.close(promise: nil)
        }
        let upstreamPort = try FreePort.pick()
        let options = ProxyOptions(publicBindHost: "127.0.0.1", connectTimeout: .seconds(2))
        let web = ProxyRuntime(options: options, group: self.group, metrics: ProxyMetrics(), logger: testLogger)
        try await withAuthz { authz in
            try await withCatalogAndGRPC(enforcedBy: authz) { catalogAPI, catalogGRPC in
                try await withCA(authz: authz) { caGRPC in
                    let catalog = catalogAPI.with(token: managementSecret)
                    try await ConfigDistributorTests.register(
                        catalog,
                        service: "api",
                        id: "api-1",
                        appPort: try #require(appA.localAddress?.port),
                        proxyPort: try FreePort.pick()
                    )
                    try await ConfigDistributorTests.register(
                        catalog,
                        service: "web",
                        id: "web-1",
                        appPort: 8080,
                        proxyPort: try FreePort.pick(),
                        upstreams: [("api", upstreamPort)]
                    )
                    try await withDistributor(catalog: catalogGRPC, authz: authz, ca: caGRPC) { _, second in
                        let task = try await withDistributor(catalog: catalogGRPC, authz: authz, ca: caGRPC) {
                            _,
                            first in
                            let client = try DistributorClient(
                                settings: DynamicSettings(
                                    distributorHost: first.host,
                                    distributorPort: first.port,
                                    proxyID: "web-1-sidecar-proxy",
                                    service: "web",
                                    token: managementSecret,
                                    otherDistributors: [(host: second.host, port: second.port)]
                                ),
                                logger: testLogger
                            )
                            let task = Task { await client.run(runtime: web) }
                            try await eventually(within: .seconds(30), "web's first config") {
                                web.snapshot?.upstreams.first?.endpoints.count == 1
                            }
                            return task
                        }
                        defer { task.cancel() }
                        // The first replica has stopped; a change now can only arrive through the second.
                        try await ConfigDistributorTests.register(
                            catalog,
                            service: "api",
                            id: "api-2",
                            appPort: try #require(appB.localAddress?.port),
                            proxyPort: try FreePort.pick()
                        )
                        try await eventually(within: .seconds(30), "the change through the other replica") {
                            web.snapshot?.upstreams.first?.endpoints.count == 2
                        }
                        #expect(web.isReady)
                    }
                }
            }
        }
        await web.stop()
    }

    @Test("a config pushed while ca-svc refuses the leaf (its rate limit) is applied once a retry gets one")
    func aRefusedLeafIsRetried() async throws {
        let options = ProxyOptions(publicBindHost: "127.0.0.1", connectTimeout: .seconds(2))
        let first = ProxyRuntime(options: options, group: self.group, metrics: ProxyMetrics(), logger: testLogger)
        let second = ProxyRuntime(options: options, group: self.group, metrics: ProxyMetrics(), logger: testLogger)
        try await withAuthz { authz in
            try await withCatalogAndGRPC(enforcedBy: authz) { catalogAPI, catalogGRPC in
                // Ten leaves at once per token, then one every 5 s.
                try await withCA(authz: authz, csrRatePerToken: 0.2) { caGRPC in
                    let catalog = catalogAPI.with(token: managementSecret)
                    for id in ["web-1", "web-2"] {
                        try await ConfigDistributorTests.register(
                            catalog,
                            service: "web",
                            id: id,
                            appPort: 8080,
                            proxyPort: try FreePort.pick()
                        )
                    }
                    try await withDistributor(catalog: catalogGRPC, authz: authz, ca: caGRPC) { _, distributorGRPC in
                        func client(_ id: String) throws -> DistributorClient {
                            try DistributorClient(
                                settings: DynamicSettings(
                                    distributorHost: distributorGRPC.host,
                                    distributorPort: distributorGRPC.port,
                                    proxyID: "\(id)-sidecar-proxy",
                                    service: "web",
                                    token: managementSecret
                                ),
                                logger: testLogger
                            )
                        }
                        let firstClient = try client("web-1")
                        let firstTask = Task { await firstClient.run(runtime: first) }
                        defer { firstTask.cancel() }
                        try await eventually(within: .seconds(30), "the first proxy's config") { first.isReady }
                        let trustDomain = try #require(first.snapshot?.trustDomain)
                        // The token's bucket emptied, as a root rotation does when every proxy re-signs.
                        let transport = try HTTP2ClientTransport.Posix.distributor(
                            at: [(host: distributorGRPC.host, port: distributorGRPC.port)],
                            caPEM: nil
                        )
                        try await withGRPCClient(transport: transport) { grpc in
                            let distributor = Mesh_V1_ConfigDistributor.Client(wrapping: grpc)
                            var refused = false
                            for _ in 0..<12 where !refused {
                                do {
                                    _ = try await SignedLeaf.sign(
                                        service: "web",
                                        trustDomain: trustDomain,
                                        datacenter: "dc1",
                                        token: managementSecret,
                                        through: distributor
                                    )
                                } catch let error as RPCError where error.code == .resourceExhausted {
                                    refused = true
                                }
                            }
                            #expect(refused, "the token's signing bucket ran out")
                        }
                        let secondClient = try client("web-2")
                        let secondTask = Task { await secondClient.run(runtime: second) }
                        defer { secondTask.cancel() }
                        // Its first leaf is refused; it must not wait for a push that never comes.
                        try await eventually(within: .seconds(60), "the second proxy's config, once a leaf is signed") {
                            second.isReady
                        }
                    }
                }
            }
        }
        await first.stop()
        await second.stop()
    }
}
