/// Why a request could not be signed.
public enum SigV4Error: Error, Sendable, Hashable {
    /// The request has no `Host` header; Signature Version 4 always signs the host, so AWS would reject it.
    case missingHostHeader
}
