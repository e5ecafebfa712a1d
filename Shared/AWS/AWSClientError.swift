/// Why a call to an AWS API failed.
///
/// Service errors carry AWS's own error code and message (from the XML or JSON error body), which name the problem
/// (`NoSuchEntity`, `ClusterNotFoundException`, `ExpiredToken`) without revealing credentials.
public enum AWSClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No credentials could be obtained to sign the request.
    case credentials(AWSCredentialsError)
    /// The configured endpoint is not an absolute URL with a host.
    case invalidEndpoint(String)
    /// The request could not be signed.
    case signing(SigV4Error)
    /// The request did not complete (connection refused, timeout, TLS failure); `reason` names the error type.
    case transport(reason: String)
    /// AWS answered with an error status.
    case service(AWSServiceError)
    /// AWS answered 2xx but the body is not what the operation returns.
    case malformedResponse(operation: String, reason: String)

    public var description: String {
        switch self {
        case .credentials(let error):
            return "AWS credentials unavailable: \(error)"
        case .invalidEndpoint(let endpoint):
            return "invalid AWS endpoint \(endpoint)"
        case .signing(let error):
            return "cannot sign AWS request: \(error)"
        case .transport(let reason):
            return "AWS request failed: \(reason)"
        case .service(let error):
            return error.description
        case .malformedResponse(let operation, let reason):
            return "malformed \(operation) response: \(reason)"
        }
    }
}

/// An error response from an AWS service.
public struct AWSServiceError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The HTTP status, e.g. 400, 403, 404.
    public var status: Int
    /// AWS's error code, e.g. `NoSuchEntity` or `ClusterNotFoundException`; `nil` when the body had none.
    public var code: String?
    /// AWS's human-readable message, if any.
    public var message: String?

    /// An error as parsed from a response.
    public init(status: Int, code: String?, message: String?) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String {
        "AWS error HTTP \(self.status) \(self.code ?? "<no code>"): \(self.message ?? "<no message>")"
    }
}
