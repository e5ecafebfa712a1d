import MeshCore
import Testing

@Suite("proxy snapshots")
struct ProxySnapshotTests {
    static func sidecar(
        _ id: String,
        address: String,
        port: Int = 21000,
        status: CheckStatus = .passing
    ) -> ServiceHealth {
        ServiceHealth(
            node: CatalogNode(name: "node-\(id)", address: "10.0.9.9"),
            service: ServiceInstance(
                node: "node-\(id)",
                id: id,
                name: "api-sidecar-proxy",
                address: address,
                port: port,
                kind: "connect-proxy"
            ),
            checks: [
                HealthCheck(node: "node-\(id)", checkID: "\(id):health", name: "health", status: status, serviceID: id)
            ]
        )
    }

    static let proxy = ProxyRegistration(
        service: "web",
        publicPort: 21000,
        localAppPort: 8080,
        upstreams: [UpstreamRequest(service: "api", localPort: 1234), UpstreamRequest(service: "db", localPort: 5432)]
    )

    static func build(
        sidecars: [String: [ServiceHealth]],
        intentions: [Intention] = [],
        protocols: [String: String] = ["api": "http"]
    ) -> ProxySnapshot {
        ProxySnapshotBuilder.build(
            Self.proxy,
            sidecars: sidecars,
            protocols: protocols,
            intentions: IntentionSet(intentions),
            defaultAllow: false,
            trustDomain: "11111111-2222-3333-4444-555555555555.consul",
            datacenter: "dc1",
            rootsPEM: ["-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n"]
        )
    }

    @Test("upstreams get their healthy sidecars' public addresses, protocol and expected identity")
    func upstreams() {
        let snapshot = Self.build(sidecars: [
            "api": [
                Self.sidecar("b", address: "10.0.1.2"), Self.sidecar("a", address: "10.0.1.1"),
                Self.sidecar("c", address: "10.0.1.3", status: .critical),
                Self.sidecar("d", address: "", status: .warning),
            ]
        ])
        let api = snapshot.upstreams[0]
        #expect(api.service == "api" && api.localPort == 1234 && api.protocolName == "http")
        // Critical instances are out; a warning still serves; an empty address falls back to the node's.
        #expect(api.endpoints.map(\.address) == ["10.0.1.1", "10.0.1.2", "10.0.9.9"])
        #expect(
            api.expectedIdentity == "spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/api"
        )
        let db = snapshot.upstreams[1]
        #expect(db.protocolName == "tcp" && db.endpoints.isEmpty)
        #expect(snapshot.protocolName == "tcp")
    }

    @Test("only the intentions whose destination covers the service, highest precedence first")
    func intentions() {
        let snapshot = Self.build(
            sidecars: [:],
            intentions: [
                Intention(sourceName: "*", destinationName: "*", action: .allow),
                Intention(sourceName: "client", destinationName: "web", action: .deny),
                Intention(sourceName: "client", destinationName: "api", action: .allow),
            ]
        )
        #expect(snapshot.intentions.map(\.destinationName) == ["web", "*"])
        #expect(!snapshot.defaultAllow)
    }

    @Test("the version moves with the content and only with it")
    func version() {
        let a = Self.sidecar("a", address: "10.0.1.1")
        let b = Self.sidecar("b", address: "10.0.1.2")
        let one = Self.build(sidecars: ["api": [a, b]])
        // The same state, read in another order, is the same snapshot.
        #expect(Self.build(sidecars: ["api": [b, a]]).version == one.version)
        #expect(Self.build(sidecars: ["api": [a]]).version != one.version)
        #expect(Self.build(sidecars: ["api": [a, b]], protocols: ["api": "grpc"]).version != one.version)
        let unhealthy = Self.build(sidecars: ["api": [a, Self.sidecar("b", address: "10.0.1.2", status: .critical)]])
        #expect(unhealthy.version != one.version && unhealthy.upstreams[0].endpoints.count == 1)
    }
}
