import Crypto
public import GRPCCore
import MeshCore
import MeshNet
public import MeshProto
import MeshTLS

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A workload's leaf: a key made here (never sent anywhere) and the certificate ca-svc signed
/// for its CSR, relayed by config-distributor with the workload's token (ca-svc demands
/// `service:write` on the service).
public struct SignedLeaf: Sendable {
    public let privateKeyPEM: String
    /// The leaf then its intermediates, PEM.
    public let chainPEM: String
    public let spiffeURI: String
    public let serialNumber: String
    public let trustDomain: String
    public let validAfter: Date
    public let validBefore: Date
    /// A random point between 60% and 90% of the leaf's remaining life when it was received, so
    /// a fleet does not renew at once.
    public let renewAt: Date

    public init(
        privateKeyPEM: String,
        chainPEM: String,
        spiffeURI: String = "",
        serialNumber: String = "",
        trustDomain: String,
        validAfter: Date,
        validBefore: Date
    ) {
        self.privateKeyPEM = privateKeyPEM
        self.chainPEM = chainPEM
        self.spiffeURI = spiffeURI
        self.serialNumber = serialNumber
        self.trustDomain = trustDomain
        self.validAfter = validAfter
        self.validBefore = validBefore
        self.renewAt = Self.renewalPoint(validAfter: validAfter, validBefore: validBefore)
    }

    /// `fraction` of the leaf's life from `now` (or from `validAfter`, if later). Not from
    /// `validAfter` as such: ca-svc backdates it a minute for clock skew, so with short leaves (a
    /// `--max-leaf-ttl` of 20 s) the point fell before the leaf arrived half the time, and every
    /// proxy renewed every second or two.
    public static func renewalPoint(
        validAfter: Date,
        validBefore: Date,
        now: Date = Date(),
        fraction: Double = Double.random(in: 0.6...0.9)
    ) -> Date {
        let start = max(validAfter, now)
        return start.addingTimeInterval(max(validBefore.timeIntervalSince(start), 0) * fraction)
    }

    /// Makes a key and a CSR for `service`'s SPIFFE ID and has the CSR signed.
    public static func sign<Transport: ClientTransport>(
        service: String,
        trustDomain: String,
        datacenter: String,
        token: String,
        through distributor: Mesh_V1_ConfigDistributor.Client<Transport>
    ) async throws -> SignedLeaf {
        let id = SPIFFEID(trustDomain: trustDomain, namespace: "default", datacenter: datacenter, service: service)
        let (key, csr) = try KeyAndCSR.makeCSR(spiffeURI: id.uri)
        var request = Mesh_V1_SignLeafRequest()
        request.csrPem = csr
        var metadata = Metadata()
        metadata.addToken(token)
        let signed = try await distributor.signLeaf(request, metadata: metadata)
        return SignedLeaf(
            privateKeyPEM: key.pemRepresentation,
            chainPEM: signed.certificatePem + (signed.chainPem.isEmpty ? "" : "\n" + signed.chainPem),
            spiffeURI: signed.spiffeID.isEmpty ? id.uri : signed.spiffeID,
            serialNumber: signed.serialNumber,
            trustDomain: trustDomain,
            validAfter: Date(timeIntervalSince1970: TimeInterval(signed.validAfterUnix)),
            validBefore: Date(timeIntervalSince1970: TimeInterval(signed.validBeforeUnix))
        )
    }
}
