import Crypto
import Foundation
import MeshTLS
import SwiftASN1
import Testing
import X509

@Suite("Development TLS")
struct DevTLSTests {
    @Test("issues a server-and-client certificate for localhost that verifies against the dev CA")
    func issuesServerCertificate() async throws {
        let ca = try DevTLS.makeCA(name: "Mesh Dev CA")
        let identity = try DevTLS.issueServerCert(
            ca: ca.certificate,
            caKey: ca.privateKey,
            uri: "spiffe://dev.consul/ns/default/dc/dc1/svc/catalog"
        )
        let certificate = identity.certificate
        #expect(await Fixture.verifies(certificate, roots: [ca.certificate]))
        let names = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(names.contains(.dnsName("localhost")))
        #expect(names.contains(.uniformResourceIdentifier("spiffe://dev.consul/ns/default/dc/dc1/svc/catalog")))
        let addresses = names.compactMap { name -> [UInt8]? in
            if case .ipAddress(let bytes) = name { return Array(bytes.bytes) }
            return nil
        }
        #expect(addresses == [[127, 0, 0, 1], Array(repeating: 0, count: 15) + [1]])
        #expect(try certificate.extensions.extendedKeyUsage == ExtendedKeyUsage([.serverAuth, .clientAuth]))
        let days = certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore) / 86_400
        #expect(days > 364.9 && days < 365.1)
        #expect(try MeshPEM.certificate(fromPEM: identity.certificatePEM) == certificate)
        #expect(
            try MeshPEM.privateKey(fromPEM: identity.privateKeyPEM).rawRepresentation
                == identity.privateKey.rawRepresentation
        )
        #expect(try MeshPEM.certificate(fromPEM: ca.certificatePEM) == ca.certificate)
    }

    @Test("rejects a bad IP address")
    func rejectsBadAddress() throws {
        let ca = try DevTLS.makeCA()
        #expect(throws: CAError(.invalidArgument, "")) {
            try DevTLS.issueServerCert(ca: ca.certificate, caKey: ca.privateKey, ipAddresses: ["300.1.1.1"])
        }
    }
}
