public import Foundation

/// The key pair (and, for temporary credentials, the session token) that signs AWS requests.
///
/// `description` redacts the secret and the token so that credentials can be logged or interpolated into
/// errors without leaking them; read the properties directly when the raw values are really needed.
public struct AWSCredentials: Sendable, Hashable, CustomStringConvertible {
    /// The public half of the key pair; it appears in clear in the `Authorization` header.
    public var accessKeyID: String
    /// The secret half of the key pair; it only ever feeds the HMAC key derivation.
    public var secretAccessKey: String
    /// The STS session token of temporary credentials; `nil` for long-term IAM user keys.
    public var sessionToken: String?
    /// When temporary credentials stop working; `nil` for long-term keys. Providers refresh ahead of it.
    public var expiration: Date?

    /// Credentials as issued by IAM (no token) or STS / instance metadata / ECS (with a token and an expiry).
    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    public var description: String {
        let token = self.sessionToken == nil ? "nil" : "<redacted>"
        return "AWSCredentials(accessKeyID: \(self.accessKeyID), secretAccessKey: <redacted>, sessionToken: \(token))"
    }
}
