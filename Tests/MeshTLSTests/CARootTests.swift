import Crypto
import Foundation
import MeshTLS
import Testing
import X509

@Suite("Root CA")
struct CARootTests {
    @Test("a new root verifies itself and has the CA extensions")
    func rootSelfVerifies() async throws {
        let (root, key) = try CARoot.makeRoot(trustDomain: Fixture.trustDomain, clusterID: Fixture.clusterID)
        #expect(await Fixture.verifies(root, roots: [root]))
        #expect(root.publicKey == Certificate.PublicKey(key.publicKey))
        #expect(root.issuer == root.subject)
        #expect(try root.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: nil))
        #expect(root.extensions[oid: .X509ExtensionID.basicConstraints]?.critical == true)
        let usage = try #require(try root.extensions.keyUsage)
        #expect(usage.keyCertSign && usage.cRLSign && usage.digitalSignature)
        #expect(root.extensions[oid: .X509ExtensionID.keyUsage]?.critical == true)
        let names = try #require(try root.extensions.subjectAlternativeNames)
        #expect(Array(names) == [.uniformResourceIdentifier("spiffe://\(Fixture.trustDomain)")])
        let ski = try #require(try root.extensions.subjectKeyIdentifier)
        let aki = try #require(try root.extensions.authorityKeyIdentifier)
        #expect(ski.keyIdentifier.count == 32)
        #expect(aki.keyIdentifier == ski.keyIdentifier)
        let years = root.notValidAfter.timeIntervalSince(root.notValidBefore) / (365 * 86_400)
        #expect(years > 9.99 && years < 10.01)
        #expect(root.subject.description.contains(".consul.ca.11111111.consul"))
    }

    @Test("two roots never share a subject")
    func distinctSubjects() throws {
        let first = try CARoot.makeRoot(trustDomain: Fixture.trustDomain, clusterID: Fixture.clusterID)
        let second = try CARoot.makeRoot(trustDomain: Fixture.trustDomain, clusterID: Fixture.clusterID)
        #expect(first.certificate.subject != second.certificate.subject)
    }

    @Test("Consul root fields: ID is colon hex of 20 bytes, serial fits in 63 bits")
    func consulFields() throws {
        let (root, _) = try CARoot.makeRoot(trustDomain: Fixture.trustDomain, clusterID: Fixture.clusterID)
        let fields = try CARootFields(certificate: root)
        #expect(fields.id.split(separator: ":").count == 20)
        #expect(fields.id.wholeMatch(of: /([0-9a-f]{2}:){19}[0-9a-f]{2}/) != nil)
        #expect(fields.id == CertificateFingerprint.consulID(of: root))
        #expect(fields.signingKeyID.wholeMatch(of: /([0-9a-f]{2}:){31}[0-9a-f]{2}/) != nil)
        #expect(fields.serialNumber >= 1 << 62 && fields.serialNumber < 1 << 63)
        #expect(Array(root.serialNumber.bytes) == withUnsafeBytes(of: fields.serialNumber.bigEndian) { Array($0) })
        #expect(fields.privateKeyType == "ec")
        #expect(fields.privateKeyBits == 256)
        #expect(fields.notBefore == root.notValidBefore)
        #expect(fields.notAfter == root.notValidAfter)
    }

    @Test("colon hex matches Consul's connect.HexString")
    func colonHex() {
        #expect(CertificateFingerprint.colonHex([0x0a, 0xff, 0x00]) == "0a:ff:00")
        #expect(CertificateFingerprint.colonHex([]) == "")
        #expect(CertificateFingerprint.serialNumberHex(0x01_0203) == "01:02:03")
    }

    @Test("a cross-signed new root lets old-root holders verify new leaves")
    func crossSignedChain() async throws {
        let now = Date()
        let (oldRoot, oldKey) = try CARoot.makeRoot(trustDomain: Fixture.trustDomain, clusterID: Fixture.clusterID)
        let (newRoot, newKey) = try CARoot.makeRoot(trustDomain: Fixture.trustDomain, clusterID: Fixture.clusterID)
        let cross = try CARoot.crossSign(newRoot, by: oldRoot, oldKey: oldKey, now: now)
        #expect(cross.subject == newRoot.subject)
        #expect(cross.issuer == oldRoot.subject)
        #expect(cross.publicKey == newRoot.publicKey)
        #expect(try cross.extensions.subjectKeyIdentifier == newRoot.extensions.subjectKeyIdentifier)
        #expect(
            try cross.extensions.authorityKeyIdentifier?.keyIdentifier
                == oldRoot.extensions.subjectKeyIdentifier?.keyIdentifier
        )
        #expect(try cross.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: nil))
        #expect(cross.notValidAfter <= oldRoot.notValidAfter)
        #expect(cross.serialNumber != newRoot.serialNumber)

        let signer = try LeafSigner(
            signingCertificate: newRoot,
            signingKey: newKey,
            chain: [cross],
            trustDomain: Fixture.trustDomain
        )
        let (_, csr) = try KeyAndCSR.makeCSR(spiffeURI: Fixture.webURI)
        let leaf = try signer.sign(try signer.inspect(csrPEM: csr), ttl: .seconds(3600), now: now)
        #expect(leaf.chain == [cross])
        #expect(try MeshPEM.certificates(fromPEM: leaf.chainPEM) == [cross])
        #expect(await Fixture.verifies(leaf.certificate, roots: [oldRoot], intermediates: leaf.chain))
        #expect(await Fixture.verifies(leaf.certificate, roots: [newRoot]))
        #expect(!(await Fixture.verifies(leaf.certificate, roots: [oldRoot])))
    }

    @Test("cross-signing is capped at the old root's expiry and refuses a mismatched key")
    func crossSignLimits() throws {
        let now = Date()
        let (oldRoot, oldKey) = try CARoot.makeRoot(
            trustDomain: Fixture.trustDomain,
            clusterID: Fixture.clusterID,
            validity: .seconds(3600),
            now: now
        )
        let (newRoot, newKey) = try CARoot.makeRoot(trustDomain: Fixture.trustDomain, clusterID: Fixture.clusterID)
        let cross = try CARoot.crossSign(newRoot, by: oldRoot, oldKey: oldKey, validity: .seconds(86_400), now: now)
        #expect(cross.notValidAfter == oldRoot.notValidAfter)
        #expect(throws: CAError(.keyMismatch, "")) {
            try CARoot.crossSign(newRoot, by: oldRoot, oldKey: newKey, now: now)
        }
        #expect(throws: CAError(.invalidArgument, "")) {
            try CARoot.crossSign(newRoot, by: oldRoot, oldKey: oldKey, now: now.addingTimeInterval(7200))
        }
    }

    @Test("PEM round trip for certificates and keys")
    func pemRoundTrip() throws {
        let (root, key) = try CARoot.makeRoot(trustDomain: Fixture.trustDomain, clusterID: Fixture.clusterID)
        let pem = MeshPEM.encode(root)
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----\n"))
        #expect(try MeshPEM.certificate(fromPEM: pem) == root)
        let keyPEM = MeshPEM.encode(key)
        #expect(try MeshPEM.privateKey(fromPEM: keyPEM).rawRepresentation == key.rawRepresentation)
        #expect(throws: CAError(.malformedInput, "")) { try MeshPEM.certificates(fromPEM: "nothing here") }
        #expect(throws: CAError(.malformedInput, "")) { try MeshPEM.privateKey(fromPEM: pem) }
    }
}
