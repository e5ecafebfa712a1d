/// A source of AWS credentials: the environment, the ECS container endpoint, a profile file, or a chain of them.
///
/// Callers ask again before every request rather than holding on to the result: providers of temporary credentials
/// cache them and refresh ahead of `AWSCredentials.expiration`, so asking is cheap and always yields usable keys.
public protocol AWSCredentialsProvider: Sendable {
    /// Current credentials.
    ///
    /// - Throws: `AWSCredentialsError.notConfigured` when this source has nothing to offer (so a chain moves on),
    ///   any other case when the source is configured but broken.
    func credentials() async throws(AWSCredentialsError) -> AWSCredentials
}

/// Always returns the same credentials; for tests and for keys that come from the mesh's own configuration.
public struct StaticCredentialsProvider: AWSCredentialsProvider {
    /// The credentials returned by every call.
    public var fixed: AWSCredentials

    /// A provider that always answers `credentials`.
    public init(_ credentials: AWSCredentials) {
        self.fixed = credentials
    }

    public func credentials() async throws(AWSCredentialsError) -> AWSCredentials {
        self.fixed
    }
}
