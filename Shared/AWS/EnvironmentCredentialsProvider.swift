/// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optionally `AWS_SESSION_TOKEN`.
///
/// The environment is a value passed in (normally `ProcessInfo.processInfo.environment`), never read globally,
/// so that tests and embedding services choose what the provider sees.
public struct EnvironmentCredentialsProvider: AWSCredentialsProvider {
    /// The variables the provider reads from.
    public var environment: [String: String]

    /// A provider over `environment`.
    public init(environment: [String: String]) {
        self.environment = environment
    }

    /// - Throws: `.notConfigured` when neither key variable is set, `.incomplete` when only one of them is.
    public func credentials() async throws(AWSCredentialsError) -> AWSCredentials {
        let source = "environment"
        let accessKeyID = self.environment.nonEmpty("AWS_ACCESS_KEY_ID")
        let secret = self.environment.nonEmpty("AWS_SECRET_ACCESS_KEY")
        switch (accessKeyID, secret) {
        case (nil, nil):
            throw .notConfigured(source: source)
        case (nil, _):
            throw .incomplete(source: source, missing: "AWS_ACCESS_KEY_ID")
        case (_, nil):
            throw .incomplete(source: source, missing: "AWS_SECRET_ACCESS_KEY")
        case (let accessKeyID?, let secret?):
            return AWSCredentials(
                accessKeyID: accessKeyID,
                secretAccessKey: secret,
                sessionToken: self.environment.nonEmpty("AWS_SESSION_TOKEN")
            )
        }
    }
}

extension [String: String] {
    /// The value of `key` unless it is absent or empty (an exported-but-empty variable counts as unset).
    func nonEmpty(_ key: String) -> String? {
        guard let value = self[key], !value.isEmpty else {
            return nil
        }
        return value
    }
}
