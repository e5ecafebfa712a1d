public import Crypto
import SwiftASN1
public import X509

/// PEM encoding and decoding of certificates and P-256 private keys.
///
/// Private keys are written as PKCS#8 (`PRIVATE KEY`); SEC1 (`EC PRIVATE KEY`, as Consul
/// writes them) and PKCS#8 are both read.
public enum MeshPEM {
    /// One `CERTIFICATE` block.
    public static func encode(_ certificate: Certificate) -> String {
        PEMDocument(type: "CERTIFICATE", derBytes: certificate.derBytes).pemString + "\n"
    }

    /// Concatenated `CERTIFICATE` blocks, in order; empty for no certificates.
    public static func encode(_ certificates: [Certificate]) -> String {
        certificates.map { Self.encode($0) }.joined()
    }

    /// A P-256 private key as PKCS#8 PEM. Treat the result as a secret.
    public static func encode(_ privateKey: P256.Signing.PrivateKey) -> String {
        privateKey.pemRepresentation + "\n"
    }

    /// Every `CERTIFICATE` block in `pem`, in order.
    ///
    /// - Throws: `.malformedInput` if there is none, or a block is not a certificate.
    public static func certificates(fromPEM pem: String) throws(CAError) -> [Certificate] {
        let certificates: [Certificate]
        do {
            certificates = try PEMDocument.parseMultiple(pemString: pem).map { try Certificate(pemDocument: $0) }
        } catch {
            throw CAError(.malformedInput, "not a PEM-encoded certificate or chain")
        }
        guard !certificates.isEmpty else {
            throw CAError(.malformedInput, "no certificate in PEM input")
        }
        return certificates
    }

    /// The first `CERTIFICATE` block in `pem`.
    public static func certificate(fromPEM pem: String) throws(CAError) -> Certificate {
        try Self.certificates(fromPEM: pem)[0]
    }

    /// A P-256 private key from PKCS#8 (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`) PEM.
    ///
    /// - Throws: `.malformedInput`; the message never repeats the input.
    public static func privateKey(fromPEM pem: String) throws(CAError) -> P256.Signing.PrivateKey {
        do {
            return try P256.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw CAError(.malformedInput, "not a PEM-encoded P-256 private key")
        }
    }
}
