import MeshCore
import NIOSSL

/// One config version as the data path reads it: immutable, swapped whole by
/// ``ProxyRuntime/apply(_:tls:)``. A connection reads it once when it is admitted (and an HTTP
/// listener once per request), so every decision about it is made on one version.
final class ProxyConfig: Sendable {
    let snapshot: ProxySnapshot
    let tls: ProxyTLS
    let intentions: IntentionSet
    let routes: [String: Route]
    /// How the public listener carries the service's own traffic, by its protocol.
    let mode: UpstreamMode
    private let trustDomain: String
    private let destination: IntentionServiceName

    init(snapshot: ProxySnapshot, tls: ProxyTLS, routes: [String: Route]) {
        self.snapshot = snapshot
        self.tls = tls
        self.intentions = IntentionSet(snapshot.intentions)
        self.routes = routes
        self.mode = UpstreamMode(protocolName: snapshot.protocolName)
        self.trustDomain = snapshot.trustDomain.lowercased()
        self.destination = IntentionServiceName(snapshot.service)
    }

    /// How connections to one upstream are made.
    struct Route: Sendable {
        let balancer: EndpointBalancer
        let expectedIdentity: SPIFFEID
        let tls: ProxyTLS
        let mode: UpstreamMode
    }

    /// How a listener carries the app's traffic, by the service's protocol.
    enum UpstreamMode: Sendable {
        /// `tcp`: one mTLS connection per app connection, bytes spliced.
        case opaque
        /// `http`: HTTP/1.1 decoded, each request on a stream of a pooled HTTP/2 connection.
        case http1
        /// `http2` and `grpc`: the app's HTTP/2 streams, each on a stream of a pooled connection.
        case http2

        init(protocolName: String) {
            switch protocolName {
            case "http": self = .http1
            case "http2", "grpc": self = .http2
            default: self = .opaque
            }
        }
    }

    /// What the public listener does with one request.
    enum RequestAdmission: Equatable {
        /// Send it to the app with this target (normalized) and without the headers named.
        case forward(target: String, dropping: [String])
        /// Answer 307 with this target as `Location`.
        case redirect(String)
        /// Answer 400; the reason is for the log.
        case badRequest(String)
        /// The L7 intentions deny it: 403.
        case denied
    }

    /// The local app's port.
    var appPort: Int { self.snapshot.localAppPort }

    /// A peer of this trust domain? (HTTP services check intentions per request, after this.)
    func trusts(_ source: SPIFFEID) -> Bool {
        source.trustDomain == self.trustDomain
    }

    /// A `tcp` service's connection from `source`: nil when allowed, else the reason it is not.
    func refusal(ofConnectionFrom source: SPIFFEID) -> String? {
        guard self.trusts(source) else {
            return "trust domain \(source.trustDomain) is not \(self.snapshot.trustDomain)"
        }
        let decision = self.intentions.authorizeConnection(
            source: IntentionServiceName(source),
            destination: self.destination,
            defaultAllow: self.snapshot.defaultAllow
        )
        return decision.allowed ? nil : decision.reason
    }

    /// Envoy's HTTP connection manager then its RBAC filter: the request is normalized as the
    /// mesh's `RequestNormalization` says, and the L7 intentions decide on the normalized
    /// request, which is what the app receives.
    func admit(
        source: SPIFFEID,
        method: String,
        target: String,
        headers: [(name: String, value: String)]
    ) -> RequestAdmission {
        guard self.trusts(source) else { return .denied }
        let normalization = self.snapshot.requestNormalization ?? .default
        var kept: [(name: String, value: String)] = []
        var dropping: [String] = []
        for header in headers {
            switch normalization.admits(headerNamed: header.name) {
            case .allow: kept.append(header)
            case .rejectRequest: return .badRequest("header name with an underscore")
            case .dropHeader: dropping.append(header.name)
            }
        }
        let normalized: String
        switch normalization.normalize(target: target) {
        case .forward(let path): normalized = path
        case .redirect(let path): return .redirect(path)
        case .reject(let reason): return .badRequest(reason)
        }
        let allowed = self.intentions.authorize(
            source: IntentionServiceName(source),
            destination: self.destination,
            request: IntentionHTTPRequest(method: method, path: normalized, headers: kept),
            defaultAllow: self.snapshot.defaultAllow
        ).allowed
        return allowed ? .forward(target: normalized, dropping: dropping) : .denied
    }
}
