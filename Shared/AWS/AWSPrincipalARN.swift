/// The ARN of an IAM user or role, or of an STS assumed-role session, taken apart as Consul's
/// `aws-iam` auth method does (internal/iamauth/responses/arn.go).
///
/// `GetCallerIdentity` reports a role's session as `arn:aws:sts::<account>:assumed-role/<role>/<session>`,
/// without the role's path; `canonicalARN` turns it back into `arn:aws:iam::<account>:role/<role>`,
/// which is what bound principal ARNs are compared with when entity details are off.
public struct AWSPrincipalARN: Sendable, Hashable {
    /// `aws`, `aws-cn`, `aws-us-gov`.
    public var partition: String
    /// The 12-digit account.
    public var account: String
    /// `user`, `role` or `assumed-role`.
    public var type: String
    /// The path between the type and the name, without its slashes (`""` for assumed roles).
    public var path: String
    /// The user or role name.
    public var friendlyName: String
    /// The session name of an assumed role.
    public var sessionName: String?

    /// Parses `arn`; nil unless it is a user, role or assumed-role ARN of IAM or STS.
    public init?(_ arn: String) {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", !parts[1].isEmpty, parts[2] == "iam" || parts[2] == "sts",
            !parts[4].isEmpty
        else {
            return nil
        }
        let resource = parts[5].split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard resource.count >= 2 else { return nil }
        self.partition = String(parts[1])
        self.account = String(parts[4])
        self.type = resource[0]
        switch self.type {
        case "assumed-role":
            guard resource.count >= 3 else { return nil }
            self.path = ""
            self.friendlyName = resource[1]
            self.sessionName = resource[2]
        case "user", "role":
            self.path = resource.dropFirst().dropLast().joined(separator: "/")
            self.friendlyName = resource[resource.count - 1]
            self.sessionName = nil
        default:
            return nil
        }
        guard !self.friendlyName.isEmpty else { return nil }
    }

    /// `arn:<partition>:iam::<account>:<user|role>/<name>`: the path dropped, an assumed role named as its role.
    public var canonicalARN: String {
        let kind = self.type == "assumed-role" ? "role" : self.type
        return "arn:\(self.partition):iam::\(self.account):\(kind)/\(self.friendlyName)"
    }

    /// Whether this is a role (or a session of one) rather than a user.
    public var isRole: Bool { self.type != "user" }
}
