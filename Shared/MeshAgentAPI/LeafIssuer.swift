import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import MeshNet
import MeshProto
import MeshWorkload

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
        guard !self.distributors.isEmpty else {
            throw RPCError(code: .unavailable, message: "no distributor address")
        }
        let signed = try await withGRPCClient(
            transport: try HTTP2ClientTransport.Posix.distributor(at: self.distributors, caPEM: self.distributorCAPEM)
        ) { client in
            try await SignedLeaf.sign(
                service: service,
                trustDomain: trustDomain,
                datacenter: self.datacenter,
                token: token,
                through: Mesh_V1_ConfigDistributor.Client(wrapping: client)
            )
        }
        let issued = Issued(
            serialNumber: signed.serialNumber,
            certPEM: signed.chainPEM,
            privateKeyPEM: signed.privateKeyPEM,
            service: service,
            serviceURI: signed.spiffeURI,
            validAfter: signed.validAfter,
            validBefore: signed.validBefore,
            renewAt: signed.renewAt,
            index: self.nextIndex
        )
        self.nextIndex += 1
        self.cache[service] = (token, issued)
        return issued
    }
}
