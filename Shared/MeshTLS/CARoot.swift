public import Crypto
import SwiftASN1
public import X509

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Creates root CA certificates and cross-signs a new root with the old one during rotation.
///
/// Roots are ECDSA P-256, shaped like those of Consul's built-in CA: a unique common name, a
/// URI SAN `spiffe://<trust-domain>`, critical CA basic constraints and key usage, and
/// SHA-256 key identifiers (`connect.KeyId`).
public enum CARoot {
    /// Ten years, as for Consul's `RootCertTTL` default.
    public static let defaultValidity: Duration = .seconds(10 * 365 * 86_400)

    /// Seven days, as Consul's built-in CA uses for cross-signed roots: long enough for every
    /// proxy to learn the new root, since leaves signed under the old one live three days.
    public static let defaultCrossSignValidity: Duration = .seconds(7 * 86_400)

    /// Makes a self-signed root with a P-256 key (fresh unless given).
    ///
    /// - Parameters:
    ///   - trustDomain: the mesh trust domain, `<cluster-id>.consul`; it becomes the URI SAN
    ///     `spiffe://<trust-domain>`.
    ///   - clusterID: the cluster's ID; its first 8 characters appear in the common name.
    ///   - primary: whether this is the primary datacenter's CA (`pri-` rather than `sec-`).
    ///   - validity: how long the root is valid from `now`.
    ///   - given: the key to use (an operator-supplied key on rotation); a fresh one when nil.
    /// - Returns: the root and its private key. Each root gets a distinct subject
    ///   (`pri-<random>.consul.ca.<cluster-id-prefix>.consul`, Consul's `CACN`), so that a
    ///   cross-signed copy of a new root is never confused with the old root when building chains.
    public static func makeRoot(
        trustDomain: String,
        clusterID: String,
        primary: Bool = true,
        validity: Duration = CARoot.defaultValidity,
        key given: P256.Signing.PrivateKey? = nil,
        now: Date = Date()
    ) throws(CAError) -> (certificate: Certificate, privateKey: P256.Signing.PrivateKey) {
        guard !trustDomain.isEmpty, !trustDomain.contains("/") else {
            throw CAError(.invalidArgument, "trust domain must be a non-empty host name")
        }
        guard validity > .zero else {
            throw CAError(.invalidArgument, "root validity must be positive")
        }
        let key = given ?? P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let keyID = try CertificateBuilding.keyIdentifier(for: publicKey)
        let name: DistinguishedName
        do {
            let commonName = Self.commonName(clusterID: clusterID, primary: primary)
            name = try DistinguishedName { CommonName(commonName) }
        } catch {
            throw CAError(.buildFailed, "could not build the root's subject name")
        }
        let certificate = try CertificateBuilding.build(
            serial: CertificateBuilding.randomSerial(),
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-CertificateBuilding.clockSkewAllowance),
            notValidAfter: now.addingTimeInterval(CertificateBuilding.seconds(validity)),
            issuer: name,
            subject: name,
            extensions: {
                try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                    Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(keyIdentifier: keyID[...])
                    AuthorityKeyIdentifier(keyIdentifier: keyID[...])
                    SubjectAlternativeNames([.uniformResourceIdentifier("spiffe://\(trustDomain)")])
                }
            },
            issuerKey: key
        )
        return (certificate, key)
    }

    /// Issues a copy of `newRoot` signed by `oldRoot`, so that holders of only the old root
    /// trust leaves signed with the new root's key.
    ///
    /// The copy keeps the new root's subject, public key and extensions (including its subject
    /// key identifier), takes the old root's subject as issuer and its subject key identifier
    /// as authority key identifier, and gets a fresh serial. It is valid from a minute before
    /// `now` for `validity`, but never past the old root's `notValidAfter`.
    ///
    /// Serve it as an intermediate after leaves signed by the new key: a chain
    /// leaf → cross-signed → old root then verifies for a peer that trusts only the old root.
    ///
    /// - Throws: `.invalidArgument` if `newRoot` is not a CA or the old root has expired;
    ///   `.keyMismatch` if `oldKey` is not `oldRoot`'s key.
    public static func crossSign(
        _ newRoot: Certificate,
        by oldRoot: Certificate,
        oldKey: P256.Signing.PrivateKey,
        validity: Duration = CARoot.defaultCrossSignValidity,
        now: Date = Date()
    ) throws(CAError) -> Certificate {
        try CertificateBuilding.requireMatch(oldKey, oldRoot)
        guard case .some(.isCertificateAuthority) = try? newRoot.extensions.basicConstraints else {
            throw CAError(.invalidArgument, "only a CA certificate can be cross-signed")
        }
        let notBefore = now.addingTimeInterval(-CertificateBuilding.clockSkewAllowance)
        let notAfter = min(now.addingTimeInterval(CertificateBuilding.seconds(validity)), oldRoot.notValidAfter)
        guard notAfter > notBefore else {
            throw CAError(.invalidArgument, "the old root expires before the cross-signed certificate could start")
        }
        let authorityKeyID = try CertificateBuilding.subjectKeyIdentifier(of: oldRoot)
        var extensions = newRoot.extensions
        do {
            let authority = AuthorityKeyIdentifier(keyIdentifier: authorityKeyID[...])
            extensions.update(try Certificate.Extension(authority, critical: false))
        } catch {
            throw CAError(.buildFailed, "could not encode the authority key identifier")
        }
        let finalExtensions = extensions
        return try CertificateBuilding.build(
            serial: CertificateBuilding.randomSerial(),
            publicKey: newRoot.publicKey,
            notValidBefore: notBefore,
            notValidAfter: notAfter,
            issuer: oldRoot.subject,
            subject: newRoot.subject,
            extensions: { finalExtensions },
            issuerKey: oldKey
        )
    }

    /// Consul's CA common name: `{pri|sec}-<uid8>.consul.ca.<cluster-id-8>.consul`.
    static func commonName(clusterID: String, primary: Bool) -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        let uid = String((0..<8).map { _ in alphabet.randomElement()! })  // the alphabet is not empty
        let cluster = String(clusterID.lowercased().filter { $0.isLetter || $0.isNumber || $0 == "-" }.prefix(8))
        return "\(primary ? "pri" : "sec")-\(uid).consul.ca.\(cluster).consul"
    }
}
