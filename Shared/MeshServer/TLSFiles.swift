import Foundation
public import GRPCNIOTransportHTTP2Posix
public import MeshNet
public import MeshRPC
public import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// A service's TLS identity: its certificate chain and key, and the CA that issued its peers'
/// certificates (`--tls-cert-file`, `--tls-key-file`, `--tls-ca-file`, or `MESH_TLS_*_FILE`;
/// on ECS, where secrets arrive only as environment variables, `MESH_TLS_CERT_PEM`,
/// `MESH_TLS_KEY_PEM` and `MESH_TLS_CA_PEM` from Secrets Manager).
///
/// With it, gRPC is mutual TLS (a peer without a certificate from that CA, or whose certificate
/// names no control-plane service, is refused; a server whose certificate does not name the
/// service dialled is refused too: ``ControlPlaneName``) and the REST API is HTTPS with TLS 1.3
/// at least. gRPC negotiates TLS 1.3 between our components
/// (both ends prefer it); grpc-swift's transport does not let us forbid 1.2 there.
public struct TLSFiles: Sendable, Hashable {
    public var certificatePath: String
    public var keyPath: String
    public var caPath: String

    public init(certificatePath: String, keyPath: String, caPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.caPath = caPath
    }

    /// The three files from flags or `MESH_TLS_CERT_FILE` / `MESH_TLS_KEY_FILE` /
    /// `MESH_TLS_CA_FILE`: all or none; each must be readable.
    public static func resolve(
        certificate: String?,
        key: String?,
        ca: String?,
        environment: [String: String]
    ) throws -> TLSFiles? {
        let settings = SettingResolver(environment: environment)
        let cert = settings.string(flag: certificate, variable: "MESH_TLS_CERT_FILE")
        let key = settings.string(flag: key, variable: "MESH_TLS_KEY_FILE")
        let ca = settings.string(flag: ca, variable: "MESH_TLS_CA_FILE")
        let given = [cert, key, ca].compactMap { $0 }.filter { !$0.isEmpty }
        guard !given.isEmpty else { return try Self.fromPEMEnvironment(environment) }
        guard let cert, let key, let ca, given.count == 3 else {
            throw SettingError(
                setting: "--tls-cert-file / --tls-key-file / --tls-ca-file",
                reason: "give all three (certificate, key, CA) or none"
            )
        }
        for (flag, path) in [("--tls-cert-file", cert), ("--tls-key-file", key), ("--tls-ca-file", ca)] {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw SettingError(setting: flag, reason: "cannot read \(path)")
            }
        }
        return TLSFiles(certificatePath: cert, keyPath: key, caPath: ca)
    }

    /// The identity given as PEM text in `MESH_TLS_CERT_PEM` / `MESH_TLS_KEY_PEM` /
    /// `MESH_TLS_CA_PEM` (all or none), written to a directory only this process's user can read.
    static func fromPEMEnvironment(_ environment: [String: String]) throws -> TLSFiles? {
        let names = ["MESH_TLS_CERT_PEM", "MESH_TLS_KEY_PEM", "MESH_TLS_CA_PEM"]
        let values = names.map { environment[$0].flatMap { $0.isEmpty ? nil : $0 } }
        let given = values.compactMap { $0 }
        guard !given.isEmpty else { return nil }
        guard given.count == 3 else {
            throw SettingError(
                setting: names.joined(separator: " / "),
                reason: "give all three (certificate, key, CA) or none"
            )
        }
        for (name, value) in zip(names, given) where !value.contains("-----BEGIN ") {
            throw SettingError(setting: name, reason: "expected PEM text")
        }
        var template = Array((NSTemporaryDirectory() + "mesh-tls-XXXXXX").utf8CString)
        guard
            let directory = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({
                String(cString: $0)
            })
        else {
            throw SettingError(setting: "MESH_TLS_*_PEM", reason: "cannot create a private directory for them")
        }
        let paths = ["cert.pem", "key.pem", "ca.pem"].map { "\(directory)/\($0)" }
        for (path, value) in zip(paths, given) {
            guard
                FileManager.default.createFile(
                    atPath: path,
                    contents: Data(value.utf8),
                    attributes: [.posixPermissions: 0o600]
                )
            else {
                throw SettingError(setting: "MESH_TLS_*_PEM", reason: "cannot write \(path)")
            }
        }
        return TLSFiles(certificatePath: paths[0], keyPath: paths[1], caPath: paths[2])
    }

    /// gRPC server side: our certificate, client certificates required and checked against the CA.
    public var grpcServerSecurity: HTTP2ServerTransport.Posix.TransportSecurity {
        .mTLS(
            certificateChain: [.file(path: self.certificatePath, format: .pem)],
            privateKey: .file(path: self.keyPath, format: .pem)
        ) { config in
            config.trustRoots = .certificates([.file(path: self.caPath, format: .pem)])
            config.clientCertificateVerification = .noHostnameVerification
        }
    }

    /// gRPC server side for data-plane clients (proxies, agents): our certificate, TLS 1.3, no client
    /// certificate asked for, since a proxy has none before its first leaf; its token authenticates it.
    public var grpcServerSecurityForWorkloads: HTTP2ServerTransport.Posix.TransportSecurity {
        .tls(
            certificateChain: [.file(path: self.certificatePath, format: .pem)],
            privateKey: .file(path: self.keyPath, format: .pem)
        )
    }

    /// gRPC client side: our certificate as the client's; the server's checked against the CA and
    /// for the name of the service dialled (``HTTP2ClientTransport/Posix/dialing(_:at:tls:settings:backoff:)``).
    public var clientTLS: ClientTLS {
        .mutual(certificatePath: self.certificatePath, keyPath: self.keyPath, caPath: self.caPath)
    }

    /// The REST listener's HTTPS settings (TLS 1.3 only; clients authenticate with tokens).
    public func httpsConfiguration() throws -> TLSConfiguration {
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(self.certificatePath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: self.keyPath, format: .pem))
        )
        config.minimumTLSVersion = .tlsv13
        return config
    }

    /// A client configuration that trusts the CA (for HTTPS calls to our own services).
    public func httpsClientConfiguration() throws -> TLSConfiguration {
        var config = TLSConfiguration.makeClientConfiguration()
        config.minimumTLSVersion = .tlsv13
        config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(self.caPath))
        config.certificateVerification = .noHostnameVerification
        return config
    }
}

extension SettingResolver {
    /// The TLS files (flags, else `MESH_TLS_*_FILE`), and the loopback rule for a service that
    /// has none: plaintext REST and gRPC are served on loopback only.
    public func transportSecurity(_ paths: TLSPaths, http: HostPort, grpc: HostPort) throws -> TLSFiles? {
        let files = try TLSFiles.resolve(
            certificate: paths.certificate,
            key: paths.key,
            ca: paths.ca,
            environment: self.environment
        )
        if files == nil {
            try self.requireLoopbackForPlainHTTP(http)
            try self.requireLoopbackForPlainGRPC(grpc)
        }
        return files
    }
}
