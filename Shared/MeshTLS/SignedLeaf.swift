public import X509

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A leaf certificate issued by `LeafSigner`, with what a Consul leaf response reports.
public struct SignedLeaf: Sendable {
    /// The leaf.
    public var certificate: Certificate
    /// The leaf as PEM.
    public var certificatePEM: String
    /// Certificates to send after the leaf (a cross-signed root during rotation), possibly none.
    public var chain: [Certificate]
    /// `chain` as concatenated PEM; empty when there is none.
    public var chainPEM: String
    /// The serial number.
    public var serialNumber: UInt64
    /// The serial number as Consul prints it for leaves: colon hex.
    public var serialNumberHex: String
    /// The leaf's `notValidBefore`: a minute before signing, for clock skew.
    public var validAfter: Date
    /// The leaf's `notValidAfter`.
    public var validBefore: Date
    /// The URI SAN.
    public var spiffeID: String
    /// The service the leaf identifies.
    public var service: String
}
