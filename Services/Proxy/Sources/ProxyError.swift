/// Why a proxy refused a config or could not start: said once, with what was wrong.
public struct ProxyError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The bootstrap file or a flag is malformed.
        case invalidConfig
        /// A certificate, key or root could not be read or does not fit together.
        case invalidTLS
        /// A listener could not bind.
        case bindFailed
        /// An upstream endpoint's certificate does not carry the destination service's SPIFFE ID.
        case identityMismatch
        /// An HTTP/2 peer closed the connection or stayed silent before its preface (SETTINGS).
        case noPreface
    }

    public var code: Code
    public var reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(self.code.rawValue): \(self.reason)" }
}
