import Crypto
import SwiftASN1
import X509

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension Certificate {
    /// The certificate's DER encoding.
    var derBytes: [UInt8] {
        var serializer = DER.Serializer()
        // Serializing a Certificate only re-emits the bytes it was built or parsed from.
        try! serializer.serialize(self)
        return serializer.serializedBytes
    }
}

/// Shared building blocks for the certificates this module issues.
enum CertificateBuilding {
    /// Leaves are valid from a minute in the past, as Consul does, so that a node whose clock
    /// is slightly behind the CA's accepts them at once.
    static let clockSkewAllowance: TimeInterval = 60

    /// A random serial in [2^62, 2^63): always 8 DER bytes, positive, and it fits in Consul's
    /// `uint64` `SerialNumber` (and in an `Int64`) unchanged.
    static func randomSerial() -> UInt64 {
        UInt64.random(in: (UInt64(1) << 62)..<(UInt64(1) << 63))
    }

    /// Consul's key identifier: SHA-256 of the DER SubjectPublicKeyInfo (`connect.KeyId`).
    static func keyIdentifier(for publicKey: Certificate.PublicKey) throws(CAError) -> [UInt8] {
        var serializer = DER.Serializer()
        do {
            try serializer.serialize(publicKey)
        } catch {
            throw CAError(.buildFailed, "could not encode the public key")
        }
        return Array(SHA256.hash(data: serializer.serializedBytes))
    }

    /// The issuer's subject key identifier, which becomes the authority key identifier of what it signs.
    static func subjectKeyIdentifier(of issuer: Certificate) throws(CAError) -> [UInt8] {
        let existing: SubjectKeyIdentifier?
        do {
            existing = try issuer.extensions.subjectKeyIdentifier
        } catch {
            throw CAError(.malformedInput, "the issuing certificate has an unreadable subject key identifier")
        }
        if let existing { return Array(existing.keyIdentifier) }
        return try Self.keyIdentifier(for: issuer.publicKey)
    }

    /// Seconds in `duration`, for `Date` arithmetic.
    static func seconds(_ duration: Duration) -> TimeInterval {
        let components = duration.components
        return TimeInterval(components.seconds) + TimeInterval(components.attoseconds) / 1e18
    }

    /// Throws `.keyMismatch` unless `key` is the private half of `certificate`'s public key.
    static func requireMatch(_ key: P256.Signing.PrivateKey, _ certificate: Certificate) throws(CAError) {
        guard let publicKey = P256.Signing.PublicKey(certificate.publicKey),
            publicKey.rawRepresentation == key.publicKey.rawRepresentation
        else {
            throw CAError(.keyMismatch, "the signing key does not match the signing certificate's public key")
        }
    }

    /// Builds and signs a certificate, mapping swift-certificates' errors to `CAError`.
    static func build(
        serial: UInt64,
        publicKey: Certificate.PublicKey,
        notValidBefore: Date,
        notValidAfter: Date,
        issuer: DistinguishedName,
        subject: DistinguishedName,
        extensions: () throws -> Certificate.Extensions,
        issuerKey: P256.Signing.PrivateKey
    ) throws(CAError) -> Certificate {
        do {
            return try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(serial),
                publicKey: publicKey,
                notValidBefore: notValidBefore,
                notValidAfter: notValidAfter,
                issuer: issuer,
                subject: subject,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try extensions(),
                issuerPrivateKey: Certificate.PrivateKey(issuerKey)
            )
        } catch {
            throw CAError(.buildFailed, "could not build the certificate")
        }
    }
}
