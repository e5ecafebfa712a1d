public import Crypto
import SwiftASN1
public import X509

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Throwaway certificates for `meshctl dev` and tests: a CA and certificates that serve as
/// both server and client certificate for mTLS between the mesh's own services.
///
/// Not for production: the CA key lives wherever the caller keeps it.
public enum DevTLS {
    /// A development CA.
    public struct Authority: Sendable {
        /// The self-signed CA certificate.
        public var certificate: Certificate
        /// Its private key.
        public var privateKey: P256.Signing.PrivateKey
        /// The certificate as PEM, to use as trust root.
        public var certificatePEM: String { MeshPEM.encode(self.certificate) }
        /// The key as PKCS#8 PEM.
        public var privateKeyPEM: String { MeshPEM.encode(self.privateKey) }
    }

    /// A certificate and key issued by a development CA.
    public struct Identity: Sendable {
        /// The certificate.
        public var certificate: Certificate
        /// Its private key.
        public var privateKey: P256.Signing.PrivateKey
        /// The certificate as PEM.
        public var certificatePEM: String { MeshPEM.encode(self.certificate) }
        /// The key as PKCS#8 PEM.
        public var privateKeyPEM: String { MeshPEM.encode(self.privateKey) }
    }

    /// One year, for development certificates.
    public static let defaultValidity: Duration = .seconds(365 * 86_400)

    /// Makes a self-signed P-256 CA named `name`, valid from a minute before `now`.
    ///
    /// The CA is valid one day longer than `validity` so that certificates issued with the
    /// default validity at creation never outlive it.
    public static func makeCA(
        name: String = "Mesh Dev CA",
        validity: Duration = DevTLS.defaultValidity,
        now: Date = Date()
    ) throws(CAError) -> Authority {
        guard validity > .zero else {
            throw CAError(.invalidArgument, "validity must be positive")
        }
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let keyID = try CertificateBuilding.keyIdentifier(for: publicKey)
        let subject = try Self.name(name)
        let certificate = try CertificateBuilding.build(
            serial: CertificateBuilding.randomSerial(),
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-CertificateBuilding.clockSkewAllowance),
            notValidAfter: now.addingTimeInterval(CertificateBuilding.seconds(validity) + 86_400),
            issuer: subject,
            subject: subject,
            extensions: {
                try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                    Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(keyIdentifier: keyID[...])
                    AuthorityKeyIdentifier(keyIdentifier: keyID[...])
                }
            },
            issuerKey: key
        )
        return Authority(certificate: certificate, privateKey: key)
    }

    /// Issues a certificate for a fresh P-256 key, usable as server and client certificate.
    ///
    /// Subject CN is the first DNS name (or the first IP address); SANs are the DNS names,
    /// the IP addresses and the optional URI (a SPIFFE ID). Extended key usage is server
    /// and client auth. Valid from a minute before `now` for `validity`, but not past the CA.
    ///
    /// - Throws: `.invalidArgument` for an unparsable IP address or no names at all;
    ///   `.keyMismatch` if `caKey` is not the key of `ca`.
    public static func issueServerCert(
        ca: Certificate,
        caKey: P256.Signing.PrivateKey,
        dnsNames: [String] = ["localhost"],
        ipAddresses: [String] = ["127.0.0.1", "::1"],
        uri: String? = nil,
        validity: Duration = DevTLS.defaultValidity,
        now: Date = Date()
    ) throws(CAError) -> Identity {
        try CertificateBuilding.requireMatch(caKey, ca)
        guard validity > .zero else {
            throw CAError(.invalidArgument, "validity must be positive")
        }
        guard let commonName = dnsNames.first ?? ipAddresses.first ?? uri else {
            throw CAError(.invalidArgument, "a certificate needs at least one DNS name, IP address or URI")
        }
        var names: [GeneralName] = dnsNames.map { .dnsName($0) }
        for address in ipAddresses {
            guard let bytes = Self.parseIPAddress(address) else {
                throw CAError(.invalidArgument, "not an IPv4 or IPv6 address: \(address)")
            }
            names.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...])))
        }
        if let uri { names.append(.uniformResourceIdentifier(uri)) }
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let keyID = try CertificateBuilding.keyIdentifier(for: publicKey)
        let authorityKeyID = try CertificateBuilding.subjectKeyIdentifier(of: ca)
        let allNames = names
        let certificate = try CertificateBuilding.build(
            serial: CertificateBuilding.randomSerial(),
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-CertificateBuilding.clockSkewAllowance),
            notValidAfter: min(now.addingTimeInterval(CertificateBuilding.seconds(validity)), ca.notValidAfter),
            issuer: ca.subject,
            subject: try Self.name(commonName),
            extensions: {
                try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                    try ExtendedKeyUsage([.serverAuth, .clientAuth])
                    SubjectKeyIdentifier(keyIdentifier: keyID[...])
                    AuthorityKeyIdentifier(keyIdentifier: authorityKeyID[...])
                    SubjectAlternativeNames(allNames)
                }
            },
            issuerKey: caKey
        )
        return Identity(certificate: certificate, privateKey: key)
    }

    private static func name(_ commonName: String) throws(CAError) -> DistinguishedName {
        do {
            return try DistinguishedName { CommonName(commonName) }
        } catch {
            throw CAError(.buildFailed, "could not build a subject name")
        }
    }

    /// The 4 or 16 network-order bytes of a textual IPv4 or IPv6 address.
    static func parseIPAddress(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}
