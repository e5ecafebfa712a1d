import Foundation

/// Credentials from the shared credentials file, as the AWS CLI writes it.
///
/// The file is `AWS_SHARED_CREDENTIALS_FILE` (a leading `~/` expands to `HOME`) or else `$HOME/.aws/credentials`;
/// the profile is the one given, else `AWS_PROFILE`, else `default`. The file is re-read on every call, so keys
/// rotated by `aws configure` are picked up without a restart.
public struct ProfileCredentialsProvider: AWSCredentialsProvider {
    /// The variables that choose the file and the profile.
    public var environment: [String: String]
    /// A profile that overrides `AWS_PROFILE`.
    public var profile: String?

    /// A provider over `environment`, optionally pinned to `profile`.
    public init(environment: [String: String], profile: String? = nil) {
        self.environment = environment
        self.profile = profile
    }

    /// The profile that will be read.
    public var profileName: String {
        self.profile ?? self.environment.nonEmpty("AWS_PROFILE") ?? "default"
    }

    /// The path of the file that will be read, or `nil` when neither the variable nor `HOME` is set.
    public var filePath: String? {
        let home = self.environment.nonEmpty("HOME")
        if let path = self.environment.nonEmpty("AWS_SHARED_CREDENTIALS_FILE") {
            if path.hasPrefix("~/"), let home {
                return home + "/" + path.dropFirst(2)
            }
            return path
        }
        return home.map { $0 + "/.aws/credentials" }
    }

    /// - Throws: `.notConfigured` when there is no file (or no profile in it while no profile was asked for
    ///   explicitly), `.profileNotFound` when an explicitly chosen profile is missing, `.incomplete` when the profile
    ///   lacks `aws_access_key_id` or `aws_secret_access_key`.
    public func credentials() async throws(AWSCredentialsError) -> AWSCredentials {
        let source = "profile file"
        guard let path = self.filePath else {
            throw .notConfigured(source: source)
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw .notConfigured(source: source)
        }
        guard let data = FileManager.default.contents(atPath: path),
            let text = String(data: data, encoding: .utf8)
        else {
            throw .unreadableFile(path: path)
        }
        let name = self.profileName
        let explicit = self.profile != nil || self.environment.nonEmpty("AWS_PROFILE") != nil
        guard let section = AWSProfileFile(parsing: text).profiles[name] else {
            if explicit {
                throw .profileNotFound(profile: name, path: path)
            }
            throw .notConfigured(source: source)
        }
        let profileSource = "profile '\(name)' in \(path)"
        guard let accessKeyID = section.nonEmpty("aws_access_key_id") else {
            throw .incomplete(source: profileSource, missing: "aws_access_key_id")
        }
        guard let secret = section.nonEmpty("aws_secret_access_key") else {
            throw .incomplete(source: profileSource, missing: "aws_secret_access_key")
        }
        return AWSCredentials(
            accessKeyID: accessKeyID,
            secretAccessKey: secret,
            sessionToken: section.nonEmpty("aws_session_token")
        )
    }
}
