/// Why a credentials provider produced no credentials.
///
/// The cases carry only what is safe to log: variable names, file paths, profile names, HTTP statuses and
/// reasons. They never carry keys, tokens or response bodies, which may hold secrets.
public enum AWSCredentialsError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The source is not set up at all (e.g. the variables are absent); a chain tries the next source.
    case notConfigured(source: String)
    /// The source is set up but a required value is missing or empty, e.g. a key ID without its secret.
    case incomplete(source: String, missing: String)
    /// A file the configuration names could not be read.
    case unreadableFile(path: String)
    /// The profile file exists but has no section for the profile.
    case profileNotFound(profile: String, path: String)
    /// The container credentials URI is malformed or not allowed (plain HTTP to a non-loopback host).
    case invalidContainerURI(reason: String)
    /// The container endpoint could not be reached or did not answer in time.
    case containerUnreachable(reason: String)
    /// The container endpoint answered with a non-2xx status.
    case containerHTTPStatus(Int)
    /// The container endpoint's answer is not the expected JSON document.
    case invalidContainerResponse(reason: String)
    /// Every source in a chain said `notConfigured`; the list says which ones were tried.
    case noSourceConfigured(tried: [String])

    public var description: String {
        switch self {
        case .notConfigured(let source):
            return "no AWS credentials configured for \(source)"
        case .incomplete(let source, let missing):
            return "AWS credentials from \(source) are incomplete: \(missing) is missing or empty"
        case .unreadableFile(let path):
            return "cannot read \(path)"
        case .profileNotFound(let profile, let path):
            return "profile '\(profile)' not found in \(path)"
        case .invalidContainerURI(let reason):
            return "invalid container credentials URI: \(reason)"
        case .containerUnreachable(let reason):
            return "container credentials endpoint unreachable: \(reason)"
        case .containerHTTPStatus(let status):
            return "container credentials endpoint answered HTTP \(status)"
        case .invalidContainerResponse(let reason):
            return "invalid container credentials response: \(reason)"
        case .noSourceConfigured(let tried):
            return "no AWS credentials found (tried \(tried.joined(separator: ", ")))"
        }
    }
}
