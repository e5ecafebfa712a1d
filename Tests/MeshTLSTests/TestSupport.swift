import Crypto
import Foundation
import MeshTLS
import SwiftASN1
import X509

/// Shared fixtures for the MeshTLS tests; every key is made in memory.
enum Fixture {
    static let trustDomain = "11111111-2222-3333-4444-555555555555.consul"
    static let clusterID = "11111111-2222-3333-4444-555555555555"
    static let webURI = "spiffe://\(Self.trustDomain)/ns/default/dc/dc1/svc/web"

    /// A fresh root and a signer over it.
    static func rootAndSigner(
        now: Date = Date()
    ) throws -> (root: Certificate, key: P256.Signing.PrivateKey, signer: LeafSigner) {
        let (root, key) = try CARoot.makeRoot(trustDomain: Self.trustDomain, clusterID: Self.clusterID, now: now)
        let signer = try LeafSigner(signingCertificate: root, signingKey: key, trustDomain: Self.trustDomain)
        return (root, key, signer)
    }

    /// A CSR with exactly the given SANs, signed by `key`.
    static func csrPEM(
        names: [GeneralName],
        key: P256.Signing.PrivateKey = P256.Signing.PrivateKey()
    ) throws -> String {
        let extensions = try Certificate.Extensions { SubjectAlternativeNames(names) }
        let attributes = CertificateSigningRequest.Attributes([
            try CertificateSigningRequest.Attribute(ExtensionRequest(extensions: extensions))
        ])
        let request = try CertificateSigningRequest(
            version: .v1,
            subject: DistinguishedName(),
            privateKey: Certificate.PrivateKey(key),
            attributes: attributes,
            signatureAlgorithm: .ecdsaWithSHA256
        )
        return try request.serializeAsPEM().pemString
    }

    /// Whether `leaf` chains to one of `roots` through `intermediates` under RFC 5280 rules.
    static func verifies(
        _ leaf: Certificate,
        roots: [Certificate],
        intermediates: [Certificate] = []
    ) async -> Bool {
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) { RFC5280Policy() }
        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(intermediates))
        if case .validCertificate = result { return true }
        return false
    }
}
