public import Crypto
import SwiftASN1
public import X509
import _CryptoExtras

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Checks CSRs from proxies and agents and signs their leaf certificates.
///
/// Signing takes two steps so that the caller can authorize in between:
/// `inspect(csrPEM:)` parses and checks the CSR and returns who it is for, and
/// `sign(_:ttl:now:)` issues the leaf. Leaves mirror Consul's built-in CA (`ConsulProvider.Sign`):
/// the CSR's URI, DNS and IP SANs, subject CN = service, not a CA, key usage digital signature,
/// key and data encipherment and key agreement, extended key usage server and client auth,
/// subject key identifier from the leaf key and authority key identifier = the signer's.
public struct LeafSigner: Sendable {
    /// The certificate whose key signs leaves: the active root, or its replacement during rotation.
    public let signingCertificate: Certificate
    /// The private key of `signingCertificate`.
    public let signingKey: P256.Signing.PrivateKey
    /// Certificates served after each leaf, such as the new root cross-signed by the old one.
    public let chain: [Certificate]
    /// The trust domain that CSRs must name.
    public let trustDomain: String

    /// The smallest RSA modulus accepted in a CSR.
    public static let minimumRSABits = 2048
    /// The largest RSA modulus accepted in a CSR (larger keys cost the CA's clients more to
    /// verify and buy nothing).
    public static let maximumRSABits = 4096

    /// Signs with a root (or any CA certificate) and its key.
    ///
    /// - Parameters:
    ///   - chain: certificates to return after each leaf, nearest the leaf first.
    /// - Throws: `.keyMismatch` if `signingKey` is not the key of `signingCertificate`.
    public init(
        signingCertificate: Certificate,
        signingKey: P256.Signing.PrivateKey,
        chain: [Certificate] = [],
        trustDomain: String
    ) throws(CAError) {
        try CertificateBuilding.requireMatch(signingKey, signingCertificate)
        self.signingCertificate = signingCertificate
        self.signingKey = signingKey
        self.chain = chain
        self.trustDomain = trustDomain
    }

    /// Parses and checks a PEM `CERTIFICATE REQUEST`; see `inspect(csrDER:)`.
    public func inspect(csrPEM: String) throws(CSRError) -> CSRInspection {
        let request = try Self.parse("CSR is not a PEM-encoded CERTIFICATE REQUEST") {
            try CertificateSigningRequest(pemEncoded: csrPEM)
        }
        return try self.inspect(request)
    }

    /// Parses and checks a DER-encoded PKCS#10 request.
    ///
    /// Checks, in order: the CSR parses; its self-signature verifies; its key is ECDSA P-256
    /// or P-384, or RSA of 2048 to 4096 bits; it has exactly one URI SAN; that URI is a
    /// SPIFFE ID in this signer's trust domain (compared case-insensitively); and it is a
    /// service ID. Nothing is authorized here.
    public func inspect(csrDER: [UInt8]) throws(CSRError) -> CSRInspection {
        let request = try Self.parse("CSR is not a DER-encoded certificate request") {
            try CertificateSigningRequest(derEncoded: csrDER)
        }
        return try self.inspect(request)
    }

    /// Issues a leaf for an inspected (and authorized) CSR.
    ///
    /// The leaf is valid from a minute before `now` until `now + ttl`, but never past the
    /// signing certificate's own expiry. Its serial is random and below 2^63.
    ///
    /// - Throws: `.invalidArgument` for a non-positive TTL or an expired signing certificate.
    public func sign(_ inspection: CSRInspection, ttl: Duration, now: Date = Date()) throws(CAError) -> SignedLeaf {
        guard ttl > .zero else {
            throw CAError(.invalidArgument, "leaf TTL must be positive")
        }
        let notBefore = now.addingTimeInterval(-CertificateBuilding.clockSkewAllowance)
        let notAfter = min(
            now.addingTimeInterval(CertificateBuilding.seconds(ttl)),
            self.signingCertificate.notValidAfter
        )
        guard notAfter > notBefore else {
            throw CAError(.invalidArgument, "the signing certificate has expired")
        }
        let subjectKeyID = try CertificateBuilding.keyIdentifier(for: inspection.publicKey)
        let authorityKeyID = try CertificateBuilding.subjectKeyIdentifier(of: self.signingCertificate)
        let subject: DistinguishedName
        do {
            subject = try DistinguishedName { CommonName(inspection.service) }
        } catch {
            throw CAError(.buildFailed, "could not build the leaf's subject name")
        }
        var names: [GeneralName] = [.uniformResourceIdentifier(inspection.uri)]
        names += inspection.dnsNames.map { .dnsName($0) }
        names += inspection.ipAddresses.map { .ipAddress(ASN1OctetString(contentBytes: $0[...])) }
        let serial = CertificateBuilding.randomSerial()
        let certificate = try CertificateBuilding.build(
            serial: serial,
            publicKey: inspection.publicKey,
            notValidBefore: notBefore,
            notValidAfter: notAfter,
            issuer: self.signingCertificate.subject,
            subject: subject,
            extensions: {
                try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(
                        KeyUsage(
                            digitalSignature: true,
                            keyEncipherment: true,
                            dataEncipherment: true,
                            keyAgreement: true
                        )
                    )
                    try ExtendedKeyUsage([.serverAuth, .clientAuth])
                    SubjectKeyIdentifier(keyIdentifier: subjectKeyID[...])
                    AuthorityKeyIdentifier(keyIdentifier: authorityKeyID[...])
                    SubjectAlternativeNames(names)
                }
            },
            issuerKey: self.signingKey
        )
        return SignedLeaf(
            certificate: certificate,
            certificatePEM: MeshPEM.encode(certificate),
            chain: self.chain,
            chainPEM: MeshPEM.encode(self.chain),
            serialNumber: serial,
            serialNumberHex: CertificateFingerprint.serialNumberHex(serial),
            validAfter: certificate.notValidBefore,
            validBefore: certificate.notValidAfter,
            spiffeID: inspection.uri,
            service: inspection.service
        )
    }

    private func inspect(_ request: CertificateSigningRequest) throws(CSRError) -> CSRInspection {
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw CSRError(.badSignature, "CSR signature does not verify against its public key")
        }
        try Self.requireSupportedKey(request.publicKey)
        let names: [GeneralName]
        do {
            names = Array(try request.attributes.extensionRequest?.extensions.subjectAlternativeNames ?? .init())
        } catch {
            throw CSRError(.malformed, "CSR extension request or subject alternative names cannot be read")
        }
        var uris: [String] = []
        var dnsNames: [String] = []
        var ipAddresses: [[UInt8]] = []
        for name in names {
            switch name {
            case .uniformResourceIdentifier(let uri): uris.append(uri)
            case .dnsName(let dnsName): dnsNames.append(dnsName)
            case .ipAddress(let address): ipAddresses.append(Array(address.bytes))
            default: continue
            }
        }
        guard let uri = uris.first else {
            throw CSRError(.missingSPIFFEID, "CSR has no URI SAN; it must carry the service's SPIFFE ID")
        }
        guard uris.count == 1 else {
            throw CSRError(.multipleURIs, "CSR has \(uris.count) URI SANs; exactly one is allowed")
        }
        guard let domain = SPIFFEServiceID.trustDomain(of: uri) else {
            throw CSRError(.notAServiceID, "CSR URI SAN \(uri) is not a SPIFFE ID")
        }
        guard domain.lowercased() == self.trustDomain.lowercased() else {
            throw CSRError(
                .wrongTrustDomain,
                "CSR trust domain \(domain) does not match the CA's trust domain \(self.trustDomain)"
            )
        }
        guard let id = SPIFFEServiceID(uri: uri) else {
            throw CSRError(
                .notAServiceID,
                "CSR URI SAN \(uri) is not a service ID (spiffe://<trust-domain>/ns/<ns>/dc/<dc>/svc/<service>)"
            )
        }
        return CSRInspection(
            id: id,
            uri: uri,
            publicKey: request.publicKey,
            dnsNames: dnsNames,
            ipAddresses: ipAddresses
        )
    }

    /// Runs a CSR parser, telling keys that swift-crypto refuses to load (such as RSA below
    /// 2048 bits, or a point not on the curve) apart from undecodable input.
    private static func parse(
        _ malformedReason: String,
        _ parser: () throws -> CertificateSigningRequest
    ) throws(CSRError) -> CertificateSigningRequest {
        do {
            return try parser()
        } catch is CryptoKitError {
            throw CSRError(.unsupportedKey, "CSR public key is invalid or unsupported; \(Self.supportedKeys)")
        } catch {
            throw CSRError(.malformed, malformedReason)
        }
    }

    private static let supportedKeys = "keys must be ECDSA P-256 or P-384, or RSA of 2048 to 4096 bits"

    private static func requireSupportedKey(_ key: Certificate.PublicKey) throws(CSRError) {
        if P256.Signing.PublicKey(key) != nil || P384.Signing.PublicKey(key) != nil { return }
        if let rsa = _RSA.Signing.PublicKey(key) {
            guard (Self.minimumRSABits...Self.maximumRSABits).contains(rsa.keySizeInBits) else {
                throw CSRError(
                    .unsupportedKey,
                    "CSR RSA key has \(rsa.keySizeInBits) bits; \(Self.minimumRSABits) to \(Self.maximumRSABits) are accepted"
                )
            }
            return
        }
        throw CSRError(.unsupportedKey, "CSR key type is not supported; \(Self.supportedKeys)")
    }
}
