/// A CA operation that could not be carried out: bad input, a key that does not match its
/// certificate, or a certificate or PEM document that could not be built or read.
///
/// Messages are safe to show: they never contain key material. Errors compare by `code` only.
public struct CAError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Hashable {
        /// An argument is out of range or unparsable (a non-positive TTL, a bad IP address).
        case invalidArgument
        /// The private key does not belong to the certificate it was paired with.
        case keyMismatch
        /// A certificate or CSR could not be built or signed.
        case buildFailed
        /// A PEM document, certificate or key could not be read.
        case malformedInput
    }

    /// What kind of failure this is.
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
    public static func == (lhs: CAError, rhs: CAError) -> Bool { lhs.code == rhs.code }

    /// Hashes the code only, matching `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    /// The reason, safe to show.
    public var description: String { self.reason }
}
