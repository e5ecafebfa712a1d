import MeshCore
public import NIOSSL

/// The proxy's certificate, key and trust roots, and the two TLS contexts made from them.
///
/// A new leaf or new roots make a new `ProxyTLS`; connections opened afterwards use it, while
/// established ones keep the context they were made with, so rotation drops nothing.
public struct ProxyTLS: Sendable {
    /// For the public listener: TLS 1.3 only, a client certificate required and verified against the roots.
    public let server: NIOSSLContext
    /// For connections to other proxies: TLS 1.3 only, our leaf as client certificate, the peer's
    /// chain verified against the roots (its SPIFFE ID is checked after the handshake).
    public let client: NIOSSLContext
    /// The same, offering HTTP/2 by ALPN: the pooled, multiplexed connections of `http`, `http2`
    /// and `grpc` upstreams (the public listener of an `http` service decodes HTTP/2 when it is chosen).
    public let clientH2: NIOSSLContext
    /// For ready connections of `tcp` upstreams made ahead of need: ALPN ``ProxyTLS/spareProtocol``
    /// tells the peer not to connect to its app before the connection is put to use.
    public let clientSpare: NIOSSLContext
    /// The PEM the contexts were made of (for `/config`; the key is never shown).
    public let certificateChainPEM: String
    public let rootsPEM: [String]

    public init(certificateChainPEM: String, privateKeyPEM: String, rootsPEM: [String]) throws(ProxyError) {
        do {
            let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificateChainPEM.utf8))
            guard !chain.isEmpty else { throw ProxyError(.invalidTLS, "the certificate file holds no certificate") }
            let key = try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)
            let roots = try rootsPEM.flatMap { try NIOSSLCertificate.fromPEMBytes(Array($0.utf8)) }
            guard !roots.isEmpty else { throw ProxyError(.invalidTLS, "no trust roots") }

            var server = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) },
                privateKey: .privateKey(key)
            )
            server.minimumTLSVersion = .tlsv13
            server.certificateVerification = .noHostnameVerification
            server.trustRoots = .certificates(roots)
            server.sendCANameList = false
            server.applicationProtocols = [
                "h2", "http/1.1", Self.confirmedSpareProtocol, Self.spareProtocol, Self.confirmedTCPProtocol,
            ]

            var client = TLSConfiguration.makeClientConfiguration()
            client.minimumTLSVersion = .tlsv13
            client.certificateChain = chain.map { .certificate($0) }
            client.privateKey = .privateKey(key)
            client.certificateVerification = .noHostnameVerification
            client.trustRoots = .certificates(roots)

            self.server = try NIOSSLContext(configuration: server)
            client.applicationProtocols = ["h2"]
            self.clientH2 = try NIOSSLContext(configuration: client)
            client.applicationProtocols = [Self.confirmedSpareProtocol, Self.spareProtocol]
            self.clientSpare = try NIOSSLContext(configuration: client)
            client.applicationProtocols = [Self.confirmedTCPProtocol]
            self.client = try NIOSSLContext(configuration: client)
        } catch let error as ProxyError {
            throw error
        } catch {
            throw ProxyError(.invalidTLS, "\(error)")
        }
        self.certificateChainPEM = certificateChainPEM
        self.rootsPEM = rootsPEM
    }
}

extension ProxyTLS {
    /// The ALPN name of a connection made ahead of need: the inbound proxy waits for
    /// ``ProxyTLS/spareActivation`` before it connects to its app (so that an unused spare opens no
    /// session there, and a server-speaks-first app talks only to a connection in use).
    public static let spareProtocol = "mesh-spare/1"
    /// The one byte that puts a spare to use; it is not forwarded.
    static let spareActivation: UInt8 = 0x01

    /// ALPN of a `tcp` connection on which the inbound proxy confirms, before any byte of its
    /// app, whether the app took the connection: one ``PeerStatus`` byte. Without it the calling
    /// proxy could not tell "the far app is gone" (safe to send the same bytes elsewhere) from a
    /// connection that ended after reaching the app (not safe), and a stopped app cost every
    /// request sent to it until its health check turned critical. A peer that does not know
    /// these names chooses none, and the connection works as before, unconfirmed.
    public static let confirmedTCPProtocol = "mesh-tcp/1"
    /// The same for a connection made ahead of need (``spareProtocol`` confirmed).
    public static let confirmedSpareProtocol = "mesh-spare/2"

    /// Whether a connection that negotiated `protocol` starts with the peer's status byte.
    static func confirms(_ negotiated: String?) -> Bool {
        negotiated == Self.confirmedTCPProtocol || negotiated == Self.confirmedSpareProtocol
    }

    /// Whether `negotiated` makes a connection ahead of need (either spare protocol).
    static func isSpare(_ negotiated: String?) -> Bool {
        negotiated == Self.spareProtocol || negotiated == Self.confirmedSpareProtocol
    }
}

/// The first byte an inbound proxy sends on a confirmed connection (``ProxyTLS/confirms(_:)``).
enum PeerStatus: UInt8 {
    /// The app took the connection: what follows is the app's.
    case accepted = 0x06
    /// The intentions refused the caller (then the connection closes): not worth another endpoint.
    case denied = 0x15
    /// The app refused or is gone (then the connection closes): nothing reached it, so the
    /// caller may send the same bytes to another endpoint.
    case unavailable = 0x18
}

/// The SPIFFE identity a peer's certificate carries.
enum PeerIdentity {
    /// The first `spiffe://` URI SAN of `certificate`, parsed; nil when there is none.
    static func spiffeID(of certificate: NIOSSLCertificate) -> SPIFFEID? {
        for name in certificate._subjectAlternativeNames() where name.nameType == .uri {
            let uri = String(decoding: name.contents, as: UTF8.self)
            if uri.hasPrefix("spiffe://"), let id = SPIFFEID(uri: uri) { return id }
        }
        return nil
    }
}
