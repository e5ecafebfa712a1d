import MeshCore
import Testing

@testable import Proxy

/// The decisions a connection or a request gets from one config version.
@Suite struct ProxyConfigTests {
    let tls: ProxyTLS

    init() throws {
        self.tls = try TestPKI().tls(for: "api")
    }

    private func config(protocolName: String, intentions: [Intention], defaultAllow: Bool = false) -> ProxyConfig {
        var snapshot = sidecar("api", appPort: 9000, intentions: intentions, defaultAllow: defaultAllow)
        snapshot.protocolName = protocolName
        return ProxyConfig(snapshot: snapshot, tls: self.tls, routes: [:])
    }

    private func id(_ service: String, trustDomain: String = TestPKI.trustDomain) -> SPIFFEID {
        SPIFFEID(trustDomain: trustDomain, namespace: "default", datacenter: "dc1", service: service)
    }

    @Test("the listener's mode follows the service's protocol")
    func mode() {
        #expect(self.config(protocolName: "tcp", intentions: []).mode == .opaque)
        #expect(self.config(protocolName: "http", intentions: []).mode == .http1)
        #expect(self.config(protocolName: "http2", intentions: []).mode == .http2)
        #expect(self.config(protocolName: "grpc", intentions: []).mode == .http2)
    }

    @Test("a tcp connection: allowed by an intention, refused from another trust domain or without one")
    func connection() {
        let allowWeb = [Intention(sourceName: "web", destinationName: "api", action: .allow)]
        let config = self.config(protocolName: "tcp", intentions: allowWeb)
        #expect(config.refusal(ofConnectionFrom: self.id("web")) == nil)
        #expect(config.refusal(ofConnectionFrom: self.id("db")) != nil)
        let foreign = config.refusal(ofConnectionFrom: self.id("web", trustDomain: "evil.consul"))
        #expect(foreign?.contains("trust domain") == true)
    }

    @Test("a request: L7 intentions on the normalized path; another trust domain is denied even under allow-all")
    func request() {
        let config = self.config(protocolName: "http", intentions: adminDenied)
        let web = self.id("web")
        #expect(
            config.admit(source: web, method: "GET", target: "/a/../b", headers: [])
                == .forward(target: "/b", dropping: [])
        )
        #expect(config.admit(source: web, method: "GET", target: "/admin/x", headers: []) == .denied)
        #expect(config.admit(source: web, method: "GET", target: "/x/../admin", headers: []) == .denied)
        let open = self.config(protocolName: "http", intentions: [], defaultAllow: true)
        #expect(
            open.admit(source: self.id("web", trustDomain: "evil.consul"), method: "GET", target: "/", headers: [])
                == .denied
        )
        #expect(open.admit(source: web, method: "GET", target: "/", headers: []) == .forward(target: "/", dropping: []))
    }
}
