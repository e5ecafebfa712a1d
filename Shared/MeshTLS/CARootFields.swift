import Crypto
public import X509
import _CryptoExtras

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The fields Consul's `/v1/connect/ca/roots` prints for a root, read from its certificate.
public struct CARootFields: Sendable, Hashable {
    /// `ID`: SHA-1 fingerprint of the DER, colon hex.
    public var id: String
    /// `SerialNumber`: the serial's low 64 bits.
    public var serialNumber: UInt64
    /// `SigningKeyID`: the subject key identifier, colon hex; empty if the certificate has none.
    public var signingKeyID: String
    /// `NotBefore`.
    public var notBefore: Date
    /// `NotAfter`.
    public var notAfter: Date
    /// `PrivateKeyType`: `ec` or `rsa`.
    public var privateKeyType: String
    /// `PrivateKeyBits`: 256 or 384 for EC, the modulus size for RSA.
    public var privateKeyBits: Int

    /// Reads the fields from `certificate`.
    ///
    /// - Throws: `.invalidArgument` for keys other than P-256, P-384, P-521 or RSA.
    public init(certificate: Certificate) throws(CAError) {
        self.id = CertificateFingerprint.consulID(of: certificate)
        self.serialNumber = CertificateFingerprint.serialNumber(of: certificate)
        self.signingKeyID = CertificateFingerprint.signingKeyID(of: certificate) ?? ""
        self.notBefore = certificate.notValidBefore
        self.notAfter = certificate.notValidAfter
        let key = certificate.publicKey
        if P256.Signing.PublicKey(key) != nil {
            (self.privateKeyType, self.privateKeyBits) = ("ec", 256)
        } else if P384.Signing.PublicKey(key) != nil {
            (self.privateKeyType, self.privateKeyBits) = ("ec", 384)
        } else if P521.Signing.PublicKey(key) != nil {
            (self.privateKeyType, self.privateKeyBits) = ("ec", 521)
        } else if let rsa = _RSA.Signing.PublicKey(key) {
            (self.privateKeyType, self.privateKeyBits) = ("rsa", rsa.keySizeInBits)
        } else {
            throw CAError(.invalidArgument, "root key type is not EC or RSA")
        }
    }
}
