import Crypto
import MeshCore
import MeshTLS

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The proxy's own leaf: a key made here (never sent anywhere) and the certificate ca-svc signed
/// for its CSR, with the instant it should be renewed.
struct LeafCertificate: Sendable {
    let privateKeyPEM: String
    let chainPEM: String
    let trustDomain: String
    let validAfter: Date
    let validBefore: Date
    /// A random point between 60% and 90% of the leaf's life, so a fleet does not renew at once.
    let renewAt: Date

    init(privateKeyPEM: String, chainPEM: String, trustDomain: String, validAfter: Date, validBefore: Date) {
        self.privateKeyPEM = privateKeyPEM
        self.chainPEM = chainPEM
        self.trustDomain = trustDomain
        self.validAfter = validAfter
        self.validBefore = validBefore
        self.renewAt = Self.renewalPoint(validAfter: validAfter, validBefore: validBefore)
    }

    static func renewalPoint(
        validAfter: Date,
        validBefore: Date,
        fraction: Double = Double.random(in: 0.6...0.9)
    ) -> Date {
        validAfter.addingTimeInterval(validBefore.timeIntervalSince(validAfter) * fraction)
    }

    /// A new key and a CSR for `service`'s SPIFFE ID.
    static func request(
        service: String,
        trustDomain: String,
        datacenter: String
    ) throws -> (keyPEM: String, csrPEM: String) {
        let id = SPIFFEID(trustDomain: trustDomain, namespace: "default", datacenter: datacenter, service: service)
        let (key, csr) = try KeyAndCSR.makeCSR(spiffeURI: id.uri)
        return (key.pemRepresentation, csr)
    }
}
