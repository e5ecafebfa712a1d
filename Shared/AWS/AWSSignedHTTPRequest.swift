public import Foundation

/// A signed request in the pieces an HTTP client (or a third party) needs to send it.
///
/// Consul's `aws-iam` auth method takes exactly these pieces of a signed STS `GetCallerIdentity` call, base64-encoded,
/// and replays the request itself to learn the caller's identity; so the request is built and signed but not sent.
public struct AWSSignedHTTPRequest: Sendable, Hashable {
    /// The HTTP method, e.g. `POST`.
    public var method: String
    /// The absolute URL the request goes to.
    public var url: URL
    /// The exact body that was signed.
    public var body: [UInt8]
    /// Every header, including `Host`, `X-Amz-Date`, `Authorization` and any session token, in signing order.
    public var headers: [(name: String, value: String)]

    /// Assembles a signed request.
    public init(method: String, url: URL, body: [UInt8], headers: [(name: String, value: String)]) {
        self.method = method
        self.url = url
        self.body = body
        self.headers = headers
    }

    public static func == (lhs: AWSSignedHTTPRequest, rhs: AWSSignedHTTPRequest) -> Bool {
        lhs.method == rhs.method && lhs.url == rhs.url && lhs.body == rhs.body
            && lhs.headers.elementsEqual(rhs.headers) { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.method)
        hasher.combine(self.url)
        hasher.combine(self.body)
        for header in self.headers {
            hasher.combine(header.name)
            hasher.combine(header.value)
        }
    }
}
