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
            server.applicationProtocols = ["h2", "http/1.1", Self.spareProtocol]

            var client = TLSConfiguration.makeClientConfiguration()
            client.minimumTLSVersion = .tlsv13
            client.certificateChain = chain.map { .certificate($0) }
            client.privateKey = .privateKey(key)
            client.certificateVerification = .noHostnameVerification
            client.trustRoots = .certificates(roots)

            self.server = try NIOSSLContext(configuration: server)
            self.client = try NIOSSLContext(configuration: client)
            client.applicationProtocols = ["h2"]
            self.clientH2 = try NIOSSLContext(configuration: client)
            client.applicationProtocols = [Self.spareProtocol]
            self.clientSpare = try NIOSSLContext(configuration: client)
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
