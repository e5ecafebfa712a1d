/// The result of signing: the request to send, plus every intermediate value of the algorithm.
///
/// The intermediates are exposed so that tests (and humans debugging a `SignatureDoesNotMatch`, whose error body
/// quotes AWS's own canonical request and string to sign) can compare each stage rather than just the final hex.
public struct SigV4SignedRequest: Sendable, Hashable {
    /// The input request with `X-Amz-Date`, `X-Amz-Security-Token` (when the credentials have a session token),
    /// optionally `X-Amz-Content-Sha256`, and `Authorization` set.
    public var request: AWSRequest
    /// Task 1: method, canonical URI, canonical query, canonical headers, signed headers and payload hash.
    public var canonicalRequest: String
    /// Task 2: algorithm, timestamp, credential scope and the hex SHA-256 of the canonical request.
    public var stringToSign: String
    /// Task 3: the lowercase hex HMAC-SHA256 of the string to sign under the derived signing key.
    public var signature: String
    /// The `;`-separated, sorted, lowercase names of the signed headers.
    public var signedHeaders: String
    /// The value placed in the `Authorization` header.
    public var authorization: String

    /// Assembles a result; normally only `SigV4Signer` creates these.
    public init(
        request: AWSRequest,
        canonicalRequest: String,
        stringToSign: String,
        signature: String,
        signedHeaders: String,
        authorization: String
    ) {
        self.request = request
        self.canonicalRequest = canonicalRequest
        self.stringToSign = stringToSign
        self.signature = signature
        self.signedHeaders = signedHeaders
        self.authorization = authorization
    }
}
