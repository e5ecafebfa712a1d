public import Crypto
import SwiftASN1
import X509

/// Creates a key pair and a CSR for a SPIFFE ID, as a proxy or agent does before asking the
/// CA for a leaf.
public enum KeyAndCSR {
    /// A fresh P-256 key and a PEM `CERTIFICATE REQUEST` signed with it (ECDSA with SHA-256).
    ///
    /// The request's extension request carries `spiffeURI` as its only URI SAN, plus one DNS
    /// SAN per entry of `dnsNames`. The subject is empty, as in Consul's CSRs.
    public static func makeCSR(
        spiffeURI: String,
        dnsNames: [String] = []
    ) throws(CAError) -> (privateKey: P256.Signing.PrivateKey, csrPEM: String) {
        let key = P256.Signing.PrivateKey()
        do {
            let names = [GeneralName.uniformResourceIdentifier(spiffeURI)] + dnsNames.map { .dnsName($0) }
            let extensions = try Certificate.Extensions { SubjectAlternativeNames(names) }
            let attributes = CertificateSigningRequest.Attributes([
                try CertificateSigningRequest.Attribute(ExtensionRequest(extensions: extensions))
            ])
            let request = try CertificateSigningRequest(
                version: .v1,
                subject: DistinguishedName(),
                privateKey: Certificate.PrivateKey(key),
                attributes: attributes,
                signatureAlgorithm: .ecdsaWithSHA256
            )
            return (key, try request.serializeAsPEM().pemString + "\n")
        } catch {
            throw CAError(.buildFailed, "could not build the certificate signing request")
        }
    }
}
