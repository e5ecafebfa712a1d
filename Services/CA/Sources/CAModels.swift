import Foundation
import MeshCore

/// A CA root as stored (the sealed key stays in the store layer).
struct StoredRoot: Sendable, Equatable {
    var id: String
    var name: String
    var serialNumber: UInt64
    var signingKeyID: String
    var notBefore: Date
    var notAfter: Date
    var rootPEM: String
    /// For a rotated-in root: its copy cross-signed by the previous root.
    var intermediatePEMs: [String]
    var active: Bool
    var rotatedOutAt: Date?
    var createIndex: ModifyIndex
    var modifyIndex: ModifyIndex
}

/// The cluster's CA identity and settings.
struct CACluster: Sendable, Equatable {
    var clusterID: String
    var trustDomain: String
    var config: CAProviderConfig
    var createIndex: ModifyIndex
    var modifyIndex: ModifyIndex
}

/// The built-in provider's settings (Consul's `Config` map of `/v1/connect/ca/configuration`).
struct CAProviderConfig: Sendable, Equatable, Codable {
    var leafCertTTL: String = "72h"
    var intermediateCertTTL: String = "8760h"
    var rootCertTTL: String = "87600h"
    var privateKeyType: String = "ec"
    var privateKeyBits: Int = 256

    enum CodingKeys: String, CodingKey {
        case leafCertTTL = "LeafCertTTL"
        case intermediateCertTTL = "IntermediateCertTTL"
        case rootCertTTL = "RootCertTTL"
        case privateKeyType = "PrivateKeyType"
        case privateKeyBits = "PrivateKeyBits"
    }

    var leafTTL: Duration { GoDuration.parse(self.leafCertTTL) ?? .seconds(72 * 3600) }
    var rootTTL: Duration { GoDuration.parse(self.rootCertTTL) ?? .seconds(87_600 * 3600) }
}
