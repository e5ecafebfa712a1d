import Logging
import MeshCore
import MeshTLS
import MeshTesting
import NIOCore
import NIOPosix
import Proxy

/// A development CA for the tests' proxies, issuing SPIFFE leaves in trust domain `test.consul`.
struct TestPKI {
    static let trustDomain = "test.consul"
    let authority: DevTLS.Authority

    init() throws {
        self.authority = try DevTLS.makeCA(name: "Proxy Test CA")
    }

    static func identity(_ service: String, trustDomain: String = TestPKI.trustDomain) -> String {
        SPIFFEID(trustDomain: trustDomain, namespace: "default", datacenter: "dc1", service: service).uri
    }

    /// A fresh key and leaf for `service` (any trust domain the test names), with this CA as root.
    func tls(for service: String, trustDomain: String = TestPKI.trustDomain) throws -> ProxyTLS {
        let leaf = try DevTLS.issueServerCert(
            ca: self.authority.certificate,
            caKey: self.authority.privateKey,
            uri: Self.identity(service, trustDomain: trustDomain)
        )
        return try ProxyTLS(
            certificateChainPEM: leaf.certificatePEM,
            privateKeyPEM: leaf.privateKeyPEM,
            rootsPEM: [self.authority.certificatePEM]
        )
    }
}

/// Options whose ejections outlast any test (a loaded machine can take longer than the default
/// 10 s between a failure and the check that the endpoint is still ejected).
let longEjection = ProxyOptions(publicBindHost: "127.0.0.1", connectTimeout: .seconds(2), ejectionTime: .seconds(600))

/// A proxy runtime in this process on loopback, stopped at the end of `body`.
func withProxy<T: Sendable>(
    _ snapshot: ProxySnapshot,
    tls: ProxyTLS,
    options: ProxyOptions = ProxyOptions(publicBindHost: "127.0.0.1", connectTimeout: .seconds(2)),
    group: any EventLoopGroup,
    _ body: (ProxyRuntime) async throws -> T
) async throws -> T {
    let runtime = ProxyRuntime(
        options: options,
        group: group,
        metrics: ProxyMetrics(),
        logger: Logger(label: "proxy-test")
    )
    try await runtime.apply(snapshot, tls: tls)
    do {
        let result = try await body(runtime)
        await runtime.stop()
        return result
    } catch {
        await runtime.stop()
        throw error
    }
}

/// A proxy runtime serving `snapshot`, for a test that drains it by hand (not stopped for it).
func drainableProxy(
    _ snapshot: ProxySnapshot,
    tls: ProxyTLS,
    drainDeadline: Duration,
    group: any EventLoopGroup
) async throws -> ProxyRuntime {
    var options = ProxyOptions(publicBindHost: "127.0.0.1", connectTimeout: .seconds(2))
    options.drainDeadline = drainDeadline
    let runtime = ProxyRuntime(options: options, group: group, metrics: ProxyMetrics(), logger: .init(label: "test"))
    try await runtime.apply(snapshot, tls: tls)
    return runtime
}

/// A sidecar snapshot for `service` in front of an app on `appPort`, with the given intentions.
func sidecar(
    _ service: String,
    appPort: Int,
    intentions: [Intention] = [],
    defaultAllow: Bool = false,
    upstreams: [ProxyUpstream] = []
) -> ProxySnapshot {
    ProxySnapshot(
        service: service,
        publicPort: 0,
        localAppPort: appPort,
        protocolName: "tcp",
        upstreams: upstreams,
        intentions: intentions,
        defaultAllow: defaultAllow,
        trustDomain: TestPKI.trustDomain,
        rootsPEM: []
    )
}

/// An upstream to `service` on a free local port, over the given proxies' public ports.
func upstream(_ service: String, ports: [Int], expect: String? = nil) -> ProxyUpstream {
    ProxyUpstream(
        service: service,
        localPort: 0,
        protocolName: "tcp",
        endpoints: ports.map {
            ProxyEndpoint(address: "127.0.0.1", port: $0, node: "n", instanceID: "\(service)-\($0)")
        },
        expectedIdentity: expect ?? TestPKI.identity(service)
    )
}

/// web may call api everywhere but under `/admin` (L7 intentions).
let adminDenied = [
    Intention(
        sourceName: "web",
        destinationName: "api",
        permissions: [
            IntentionPermission(action: .deny, http: IntentionHTTPPermission(pathPrefix: "/admin")),
            IntentionPermission(action: .allow, http: IntentionHTTPPermission(pathPrefix: "/")),
        ]
    )
]
