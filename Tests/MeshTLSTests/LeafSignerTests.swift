import Crypto
import Foundation
import MeshTLS
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@Suite("Leaf signing")
struct LeafSignerTests {
    @Test("a leaf from a CSR verifies against the root and carries the SPIFFE ID")
    func signsVerifiableLeaf() async throws {
        let now = Date()
        let (root, _, signer) = try Fixture.rootAndSigner(now: now)
        let (key, csr) = try KeyAndCSR.makeCSR(spiffeURI: Fixture.webURI, dnsNames: ["web.local"])
        let inspection = try signer.inspect(csrPEM: csr)
        #expect(inspection.service == "web")
        #expect(inspection.namespace == "default")
        #expect(inspection.partition == "default")
        #expect(inspection.datacenter == "dc1")
        #expect(inspection.trustDomain == Fixture.trustDomain)
        #expect(inspection.uri == Fixture.webURI)
        #expect(inspection.dnsNames == ["web.local"])
        #expect(inspection.publicKey == Certificate.PublicKey(key.publicKey))

        let leaf = try signer.sign(inspection, ttl: .seconds(72 * 3600), now: now)
        let certificate = leaf.certificate
        #expect(await Fixture.verifies(certificate, roots: [root]))
        #expect(certificate.publicKey == Certificate.PublicKey(key.publicKey))
        let names = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(Array(names) == [.uniformResourceIdentifier(Fixture.webURI), .dnsName("web.local")])
        #expect(certificate.subject.description == "CN=web")
        #expect(certificate.issuer == root.subject)
        #expect(certificate.signatureAlgorithm == .ecdsaWithSHA256)
        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
        #expect(certificate.extensions[oid: .X509ExtensionID.basicConstraints]?.critical == true)
        let usage = try #require(try certificate.extensions.keyUsage)
        #expect(usage.digitalSignature && usage.keyEncipherment && usage.keyAgreement && !usage.keyCertSign)
        #expect(certificate.extensions[oid: .X509ExtensionID.keyUsage]?.critical == true)
        #expect(try certificate.extensions.extendedKeyUsage == ExtendedKeyUsage([.serverAuth, .clientAuth]))
        #expect(
            try certificate.extensions.authorityKeyIdentifier?.keyIdentifier
                == root.extensions.subjectKeyIdentifier?.keyIdentifier
        )
        #expect(try certificate.extensions.subjectKeyIdentifier != nil)

        #expect(abs(leaf.validAfter.timeIntervalSince(now) + 60) < 1)  // X.509 times have whole seconds
        #expect(abs(leaf.validBefore.timeIntervalSince(now) - 72 * 3600) < 1)
        #expect(leaf.spiffeID == Fixture.webURI)
        #expect(leaf.service == "web")
        #expect(leaf.chain.isEmpty && leaf.chainPEM.isEmpty)
        #expect(leaf.serialNumber == CertificateFingerprint.serialNumber(of: certificate))
        #expect(leaf.serialNumberHex == CertificateFingerprint.serialNumberHex(of: certificate))
        #expect(leaf.serialNumberHex.split(separator: ":").count == 8)
        #expect(try MeshPEM.certificate(fromPEM: leaf.certificatePEM) == certificate)
    }

    @Test("the DER form of a CSR is accepted too, and a partition is parsed")
    func acceptsDERAndPartition() throws {
        let (_, _, signer) = try Fixture.rootAndSigner()
        let uri = "spiffe://\(Fixture.trustDomain)/ap/team-a/ns/payments/dc/dc2/svc/billing"
        let (_, csr) = try KeyAndCSR.makeCSR(spiffeURI: uri)
        let der = Array(try PEMDocument(pemString: csr).derBytes)
        let inspection = try signer.inspect(csrDER: der)
        #expect(inspection.partition == "team-a")
        #expect(inspection.namespace == "payments")
        #expect(inspection.datacenter == "dc2")
        #expect(inspection.service == "billing")
        #expect(inspection.id.uri == uri)
    }

    @Test("a CSR whose signature was tampered with is refused")
    func refusesBadSignature() throws {
        let (_, _, signer) = try Fixture.rootAndSigner()
        let (_, csr) = try KeyAndCSR.makeCSR(spiffeURI: Fixture.webURI)
        var der = Array(try PEMDocument(pemString: csr).derBytes)
        der[der.count - 1] ^= 0x01  // the last byte of the ECDSA signature's s value
        let error = #expect(throws: CSRError.self) { try signer.inspect(csrDER: der) }
        #expect(error?.code == .badSignature)
        let pem = PEMDocument(type: "CERTIFICATE REQUEST", derBytes: der).pemString
        #expect(throws: CSRError(.badSignature, "")) { try signer.inspect(csrPEM: pem) }
    }

    @Test("garbage is malformed")
    func refusesGarbage() throws {
        let (_, _, signer) = try Fixture.rootAndSigner()
        #expect(throws: CSRError(.malformed, "")) { try signer.inspect(csrPEM: "-----BEGIN NOTHING-----") }
        #expect(throws: CSRError(.malformed, "")) { try signer.inspect(csrDER: [0x30, 0x03, 0x01]) }
    }

    @Test("a CSR for another trust domain is refused")
    func refusesWrongTrustDomain() throws {
        let (_, _, signer) = try Fixture.rootAndSigner()
        let (_, csr) = try KeyAndCSR.makeCSR(spiffeURI: "spiffe://other.consul/ns/default/dc/dc1/svc/web")
        let error = #expect(throws: CSRError.self) { try signer.inspect(csrPEM: csr) }
        #expect(error?.code == .wrongTrustDomain)
        #expect(error?.reason.contains("other.consul") == true)
    }

    @Test("a CSR without a URI SAN is refused")
    func refusesMissingURI() throws {
        let (_, _, signer) = try Fixture.rootAndSigner()
        let csr = try Fixture.csrPEM(names: [.dnsName("web.local")])
        #expect(throws: CSRError(.missingSPIFFEID, "")) { try signer.inspect(csrPEM: csr) }
    }

    @Test("a CSR with two URI SANs is refused")
    func refusesMultipleURIs() throws {
        let (_, _, signer) = try Fixture.rootAndSigner()
        let csr = try Fixture.csrPEM(names: [
            .uniformResourceIdentifier(Fixture.webURI),
            .uniformResourceIdentifier("spiffe://\(Fixture.trustDomain)/ns/default/dc/dc1/svc/db"),
        ])
        #expect(throws: CSRError(.multipleURIs, "")) { try signer.inspect(csrPEM: csr) }
    }

    @Test(
        "URIs that are not service IDs are refused",
        arguments: [
            "https://\(Fixture.trustDomain)/ns/default/dc/dc1/svc/web",
            "spiffe://\(Fixture.trustDomain)",
            "spiffe://\(Fixture.trustDomain)/agent/client/dc/dc1/id/node-1",
            "spiffe://\(Fixture.trustDomain)/ns/default/dc/dc1/svc/",
            "spiffe://\(Fixture.trustDomain)/ns/default/dc/dc1/svc/web/extra",
            "spiffe://\(Fixture.trustDomain)/ns/default/dc/dc1/svc/web?x=1",
        ]
    )
    func refusesNonServiceIDs(uri: String) throws {
        let (_, _, signer) = try Fixture.rootAndSigner()
        let (_, csr) = try KeyAndCSR.makeCSR(spiffeURI: uri)
        #expect(throws: CSRError(.notAServiceID, "")) { try signer.inspect(csrPEM: csr) }
    }

    @Test("the trust domain compares case-insensitively")
    func trustDomainCase() throws {
        let (_, _, signer) = try Fixture.rootAndSigner()
        let uri = "SPIFFE://\(Fixture.trustDomain.uppercased())/ns/default/dc/dc1/svc/web"
        let (_, csr) = try KeyAndCSR.makeCSR(spiffeURI: uri)
        #expect(try signer.inspect(csrPEM: csr).service == "web")
    }

    @Test("a P-384 CSR is accepted and an Ed25519 one refused")
    func keyTypes() throws {
        let (_, _, signer) = try Fixture.rootAndSigner()
        let extensions = try Certificate.Extensions {
            SubjectAlternativeNames([.uniformResourceIdentifier(Fixture.webURI)])
        }
        let attributes = CertificateSigningRequest.Attributes([
            try CertificateSigningRequest.Attribute(ExtensionRequest(extensions: extensions))
        ])
        let p384 = try CertificateSigningRequest(
            version: .v1,
            subject: DistinguishedName(),
            privateKey: Certificate.PrivateKey(P384.Signing.PrivateKey()),
            attributes: attributes,
            signatureAlgorithm: .ecdsaWithSHA384
        )
        #expect(try signer.inspect(csrPEM: p384.serializeAsPEM().pemString).service == "web")
        let ed25519 = try CertificateSigningRequest(
            version: .v1,
            subject: DistinguishedName(),
            privateKey: Certificate.PrivateKey(Curve25519.Signing.PrivateKey()),
            attributes: attributes,
            signatureAlgorithm: .ed25519
        )
        #expect(throws: CSRError(.unsupportedKey, "")) {
            try signer.inspect(csrPEM: ed25519.serializeAsPEM().pemString)
        }
    }

    @Test("RSA keys need at least 2048 bits")
    func rsaKeySizes() throws {
        let (_, _, signer) = try Fixture.rootAndSigner()
        let extensions = try Certificate.Extensions {
            SubjectAlternativeNames([.uniformResourceIdentifier(Fixture.webURI)])
        }
        let attributes = CertificateSigningRequest.Attributes([
            try CertificateSigningRequest.Attribute(ExtensionRequest(extensions: extensions))
        ])
        func csr(_ key: _RSA.Signing.PrivateKey) throws -> String {
            try CertificateSigningRequest(
                version: .v1,
                subject: DistinguishedName(),
                privateKey: Certificate.PrivateKey(key),
                attributes: attributes,
                signatureAlgorithm: .sha256WithRSAEncryption
            ).serializeAsPEM().pemString
        }
        let strong = try csr(_RSA.Signing.PrivateKey(keySize: .bits2048))
        #expect(try signer.inspect(csrPEM: strong).service == "web")
        let weak = try csr(_RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024)))
        #expect(throws: CSRError(.unsupportedKey, "")) { try signer.inspect(csrPEM: weak) }
    }

    @Test("signing refuses a mismatched key and caps the leaf at the signer's expiry")
    func signerLimits() throws {
        let now = Date()
        let (root, key) = try CARoot.makeRoot(
            trustDomain: Fixture.trustDomain,
            clusterID: Fixture.clusterID,
            validity: .seconds(3600),
            now: now
        )
        #expect(throws: CAError(.keyMismatch, "")) {
            try LeafSigner(
                signingCertificate: root,
                signingKey: P256.Signing.PrivateKey(),
                trustDomain: Fixture.trustDomain
            )
        }
        let signer = try LeafSigner(signingCertificate: root, signingKey: key, trustDomain: Fixture.trustDomain)
        let inspection = try signer.inspect(csrPEM: try KeyAndCSR.makeCSR(spiffeURI: Fixture.webURI).csrPEM)
        let leaf = try signer.sign(inspection, ttl: .seconds(86_400), now: now)
        #expect(leaf.validBefore == root.notValidAfter)
        #expect(throws: CAError(.invalidArgument, "")) { try signer.sign(inspection, ttl: .zero, now: now) }
    }
}
