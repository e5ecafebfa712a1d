import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import MeshCore
import MeshNet
import MeshProto
import MeshTLS

/// Issues leaf certificates for `/v1/agent/connect/ca/leaf/:service`, as Consul's agent does for
/// connect-native applications: the key is made here, on the application's host, and only the
/// CSR goes to the control plane (config-distributor's `SignLeaf`, with the caller's token, so
/// ca-svc demands `service:write` on the service). A leaf is reused until 60–90% of its life.
public actor LeafIssuer {
    /// A leaf as the endpoint returns it (Consul's `IssuedCert`).
    struct Issued: Sendable {
        var serialNumber: String
        var certPEM: String
        var privateKeyPEM: String
        var service: String
        var serviceURI: String
        var validAfter: Date
        var validBefore: Date
        var renewAt: Date
        var index: UInt64
    }

    /// The distributor's address, or its replicas' (tried in order).
    let distributors: [(host: String, port: Int)]
    let distributorCAPEM: String?
    let datacenter: String
    private var cache: [String: (token: String, leaf: Issued)] = [:]
    private var nextIndex: UInt64 = 1

    /// Throws ``PlaintextDialRefused`` when no CA is given and a distributor is not on loopback.
    public init(distributors: [(host: String, port: Int)], distributorCAPEM: String?, datacenter: String) throws {
        try PlaintextDialRefused.check(.distributor, replicas: distributors, hasTLS: distributorCAPEM != nil)
        self.distributors = distributors
        self.distributorCAPEM = distributorCAPEM
        self.datacenter = datacenter
    }

    /// The current leaf of `service` for `token` (a cached one while it is fresh).
    func leaf(service: String, token: String, trustDomain: String) async throws -> Issued {
        if let cached = self.cache[service], cached.token == token, cached.leaf.renewAt > Date() {
            return cached.leaf
        }
        let id = SPIFFEID(trustDomain: trustDomain, namespace: "default", datacenter: self.datacenter, service: service)
        let (key, csr) = try KeyAndCSR.makeCSR(spiffeURI: id.uri)
        var request = Mesh_V1_SignLeafRequest()
        request.csrPem = csr
        var metadata = Metadata()
        metadata.addToken(token)
        let signed = try await self.withDistributor { try await $0.signLeaf(request, metadata: metadata) }
        let validAfter = Date(timeIntervalSince1970: TimeInterval(signed.validAfterUnix))
        let validBefore = Date(timeIntervalSince1970: TimeInterval(signed.validBeforeUnix))
        let life = validBefore.timeIntervalSince(validAfter)
        let issued = Issued(
            serialNumber: signed.serialNumber,
            certPEM: signed.certificatePem + (signed.chainPem.isEmpty ? "" : "\n" + signed.chainPem),
            privateKeyPEM: key.pemRepresentation,
            service: service,
            serviceURI: signed.spiffeID.isEmpty ? id.uri : signed.spiffeID,
            validAfter: validAfter,
            validBefore: validBefore,
            renewAt: validAfter.addingTimeInterval(life * Double.random(in: 0.6...0.9)),
            index: self.nextIndex
        )
        self.nextIndex += 1
        self.cache[service] = (token, issued)
        return issued
    }

    private func withDistributor<T: Sendable>(
        _ body: (Mesh_V1_ConfigDistributor.Client<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        guard !self.distributors.isEmpty else {
            throw RPCError(code: .unavailable, message: "no distributor address")
        }
        return try await withGRPCClient(
            transport: try HTTP2ClientTransport.Posix.dialing(
                .distributor,
                at: self.distributors,
                tls: self.distributorCAPEM.map { .server(caPEM: $0) }
            )
        ) { client in
            try await body(Mesh_V1_ConfigDistributor.Client(wrapping: client))
        }
    }
}
