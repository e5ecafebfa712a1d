/// A key-encryption key that cannot be parsed, or a sealed value that cannot be opened.
///
/// Messages never contain key material or plaintext. Errors compare by `code` only.
public struct KeyEncryptionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Hashable {
        /// The key text is not base64 of exactly 32 bytes.
        case invalidKey
        /// The sealed value was tampered with, truncated, bound to other associated data,
        /// or sealed under another key.
        case openFailed
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
    public static func == (lhs: KeyEncryptionError, rhs: KeyEncryptionError) -> Bool { lhs.code == rhs.code }

    /// Hashes the code only, matching `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    /// The reason, safe to show.
    public var description: String { self.reason }
}
