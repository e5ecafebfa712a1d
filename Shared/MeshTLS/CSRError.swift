/// A certificate signing request that the CA refuses to sign.
///
/// Messages are safe to return to the caller that sent the CSR: they name the problem and,
/// where it helps, the offending URI or trust domain, never key material or signatures.
/// Errors compare by `code` only.
public struct CSRError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Why the CSR was refused.
    public enum Code: String, Sendable, Hashable {
        /// Not a PEM `CERTIFICATE REQUEST` or not a DER-encoded PKCS#10 request.
        case malformed
        /// The CSR's self-signature does not verify against its own public key.
        case badSignature
        /// The key is neither ECDSA P-256/P-384 nor RSA of at least 2048 bits.
        case unsupportedKey
        /// The CSR carries no URI SAN.
        case missingSPIFFEID
        /// The CSR carries more than one URI SAN.
        case multipleURIs
        /// The SPIFFE ID names another trust domain.
        case wrongTrustDomain
        /// The URI SAN is not a SPIFFE service ID (`spiffe://<td>/ns/<ns>/dc/<dc>/svc/<svc>`).
        case notAServiceID
    }

    /// Why the CSR was refused.
    public var code: Code
    /// A human-readable explanation, safe to show.
    public var reason: String
    /// Where the error was raised, for logs.
    public var fileID: String
    /// Where the error was raised, for logs.
    public var line: Int

    /// Creates an error; `fileID` and `line` default to the call site.
    public init(_ code: Code, _ reason: String, fileID: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.fileID = fileID
        self.line = line
    }

    /// Compares by code only.
    public static func == (lhs: CSRError, rhs: CSRError) -> Bool { lhs.code == rhs.code }

    /// Hashes the code only, matching `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    /// The reason, safe to show.
    public var description: String { self.reason }
}
