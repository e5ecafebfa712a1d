import Crypto
public import X509

/// The identifiers Consul's `/v1/connect/ca/roots` and leaf responses print for a certificate.
///
/// Consul formats bytes as lowercase hex pairs joined by colons (`connect.HexString`).
public enum CertificateFingerprint {
    /// A root's `ID`: SHA-1 of the certificate's DER, as colon hex (20 bytes, 59 characters).
    ///
    /// Matches `connect.CalculateCertFingerprint`.
    public static func consulID(of certificate: Certificate) -> String {
        Self.colonHex(Array(Insecure.SHA1.hash(data: certificate.derBytes)))
    }

    /// A root's `SigningKeyID`: the subject key identifier as colon hex, or nil when the
    /// certificate has none (or it cannot be read).
    ///
    /// Leaves carry the same bytes as their authority key identifier, which is how a client
    /// tells that its leaf was signed by the active root.
    public static func signingKeyID(of certificate: Certificate) -> String? {
        guard let identifier = try? certificate.extensions.subjectKeyIdentifier else { return nil }
        return Self.colonHex(Array(identifier.keyIdentifier))
    }

    /// The serial number as Consul's `uint64` `SerialNumber`: the low 64 bits, like Go's
    /// `big.Int.Uint64`. Serials issued here are below 2^63, so they round-trip.
    public static func serialNumber(of certificate: Certificate) -> UInt64 {
        certificate.serialNumber.bytes.suffix(8).reduce(0) { ($0 << 8) | UInt64($1) }
    }

    /// The serial number as Consul's leaf `SerialNumber` string: colon hex of the big-endian
    /// magnitude without leading zero bytes (`connect.EncodeSerialNumber`).
    public static func serialNumberHex(of certificate: Certificate) -> String {
        Self.colonHex(Array(certificate.serialNumber.bytes.drop { $0 == 0 }))
    }

    /// The colon hex of a 64-bit serial, as `serialNumberHex(of:)` prints it.
    public static func serialNumberHex(_ serial: UInt64) -> String {
        let bytes = (0..<8).reversed().map { UInt8(truncatingIfNeeded: serial >> ($0 * 8)) }
        return Self.colonHex(Array(bytes.drop { $0 == 0 }))
    }

    /// Lowercase hex pairs joined by colons: `[0x0a, 0xff]` → `0a:ff`.
    public static func colonHex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count * 3)
        for (index, byte) in bytes.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ":")) }
            output.append(digits[Int(byte >> 4)])
            output.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: output, as: UTF8.self)
    }
}
