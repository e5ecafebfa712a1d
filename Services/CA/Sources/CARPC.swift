import Foundation
import GRPCCore
import Logging
import MeshCore
import MeshProto
import MeshRPC
import MeshServer
import MeshStore
import MeshTLS
import ServiceLifecycle
import SwiftProtobuf

/// `mesh.v1.CA`: leaf signing and the roots stream.
struct CARPC: Mesh_V1_CA.SimpleServiceProtocol {
    let store: CAStore
    let leaves: LeafService
    let logger: Logger

    func sign(request: Mesh_V1_SignRequest, context: ServerContext) async throws -> Mesh_V1_SignResponse {
        let leaf = try await self.leaves.sign(csrPEM: request.csrPem, caller: ACLCaller.current)
        return .with {
            $0.certificatePem = leaf.certificatePEM
            $0.chainPem = leaf.chainPEM
            $0.spiffeID = leaf.spiffeID
            $0.serialNumber = leaf.serialNumberHex
            $0.validAfterUnix = Int64(leaf.validAfter.timeIntervalSince1970)
            $0.validBeforeUnix = Int64(leaf.validBefore.timeIntervalSince1970)
        }
    }

    func watchRoots(
        request: Mesh_V1_WatchRootsRequest,
        response: RPCWriter<Mesh_V1_CARoots>,
        context: ServerContext
    ) async throws {
        let roots = self.store.feed.watch([CAStore.rootsTopic], from: request.minIndex) { _ in
            try await CARootsView.read(self.store).map { $0.message(index: 0) }
        }
        try await RPCCancellation.scope {
            for try await current in roots {
                var message = current.value
                message.index = current.index
                try await response.write(message)
            }
        }
    }
}

/// The roots as every API shows them: the cluster's trust domain and the trusted roots.
struct CARootsView: Sendable {
    var trustDomain: String
    var clusterID: String
    var roots: [StoredRoot]

    var activeRootID: String { self.roots.first(where: \.active)?.id ?? "" }

    /// The roots and the index to report for them.
    static func read(_ store: CAStore) async throws -> Indexed<CARootsView> {
        let stable = try await store.stableIndex()
        guard let cluster = try await store.cluster() else { throw CAStoreError.missingCluster }
        let roots = try await store.roots()
        let rootIndex = roots.map(\.modifyIndex).max() ?? 1
        return Indexed(
            CARootsView(trustDomain: cluster.trustDomain, clusterID: cluster.clusterID, roots: roots),
            resultIndex: max(rootIndex, cluster.modifyIndex),
            stable: stable
        )
    }

    func message(index: ModifyIndex) -> Mesh_V1_CARoots {
        .with {
            $0.index = index
            $0.trustDomain = self.trustDomain
            $0.activeRootID = self.activeRootID
            $0.roots = self.roots.map { root in
                .with {
                    $0.id = root.id
                    $0.name = root.name
                    $0.rootCertPem = root.rootPEM
                    $0.intermediateCertPems = root.intermediatePEMs
                    $0.active = root.active
                    $0.notAfterUnix = Int64(root.notAfter.timeIntervalSince1970)
                }
            }
        }
    }

    /// Consul's `/v1/connect/ca/roots` JSON (an exact `SerialNumber` needs a 64-bit integer, so
    /// this is a Codable value rather than a `JSONValue`).
    var consulJSON: ConsulRoots {
        let format = Date.ISO8601FormatStyle()
        return ConsulRoots(
            activeRootID: self.activeRootID,
            trustDomain: self.trustDomain,
            roots: self.roots.map { root in
                ConsulRoots.Root(
                    id: root.id,
                    name: root.name,
                    serialNumber: root.serialNumber,
                    signingKeyID: root.signingKeyID,
                    externalTrustDomain: self.clusterID,
                    notBefore: format.format(root.notBefore),
                    notAfter: format.format(root.notAfter),
                    rootCert: root.rootPEM,
                    intermediateCerts: root.intermediatePEMs.isEmpty ? nil : root.intermediatePEMs,
                    active: root.active,
                    privateKeyType: "ec",
                    privateKeyBits: 256,
                    createIndex: root.createIndex,
                    modifyIndex: root.modifyIndex
                )
            }
        )
    }
}

/// `GET /v1/connect/ca/roots`, field for field.
struct ConsulRoots: Encodable, Sendable {
    struct Root: Encodable, Sendable {
        var id: String
        var name: String
        var serialNumber: UInt64
        var signingKeyID: String
        var externalTrustDomain: String
        var notBefore: String
        var notAfter: String
        var rootCert: String
        var intermediateCerts: [String]?
        var active: Bool
        var privateKeyType: String
        var privateKeyBits: Int
        var createIndex: UInt64
        var modifyIndex: UInt64

        enum CodingKeys: String, CodingKey {
            case id = "ID"
            case name = "Name"
            case serialNumber = "SerialNumber"
            case signingKeyID = "SigningKeyID"
            case externalTrustDomain = "ExternalTrustDomain"
            case notBefore = "NotBefore"
            case notAfter = "NotAfter"
            case rootCert = "RootCert"
            case intermediateCerts = "IntermediateCerts"
            case active = "Active"
            case privateKeyType = "PrivateKeyType"
            case privateKeyBits = "PrivateKeyBits"
            case createIndex = "CreateIndex"
            case modifyIndex = "ModifyIndex"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.id, forKey: .id)
            try container.encode(self.name, forKey: .name)
            try container.encode(self.serialNumber, forKey: .serialNumber)
            try container.encode(self.signingKeyID, forKey: .signingKeyID)
            try container.encode(self.externalTrustDomain, forKey: .externalTrustDomain)
            try container.encode(self.notBefore, forKey: .notBefore)
            try container.encode(self.notAfter, forKey: .notAfter)
            try container.encode(self.rootCert, forKey: .rootCert)
            try container.encode(self.intermediateCerts, forKey: .intermediateCerts)  // null when none, as Consul
            try container.encode(self.active, forKey: .active)
            try container.encode(self.privateKeyType, forKey: .privateKeyType)
            try container.encode(self.privateKeyBits, forKey: .privateKeyBits)
            try container.encode(self.createIndex, forKey: .createIndex)
            try container.encode(self.modifyIndex, forKey: .modifyIndex)
        }
    }

    var activeRootID: String
    var trustDomain: String
    var roots: [Root]

    enum CodingKeys: String, CodingKey {
        case activeRootID = "ActiveRootID"
        case trustDomain = "TrustDomain"
        case roots = "Roots"
    }
}
