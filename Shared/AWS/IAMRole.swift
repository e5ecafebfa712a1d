/// An IAM role as `GetRole` / `CreateRole` describe it (the fields the mesh's IAM auth uses).
public struct IAMRole: Sendable, Hashable {
    /// e.g. `arn:aws:iam::123456789012:role/mesh/web`.
    public var arn: String
    /// The stable unique ID (`AROA…`), which survives renames but not re-creation.
    public var roleID: String
    /// The path, `/` by default, e.g. `/mesh/`.
    public var path: String
    /// The name without the path.
    public var roleName: String
    /// The role's tags, key → value.
    public var tags: [String: String]

    /// A role from its fields.
    public init(arn: String, roleID: String, path: String, roleName: String, tags: [String: String]) {
        self.arn = arn
        self.roleID = roleID
        self.path = path
        self.roleName = roleName
        self.tags = tags
    }
}

/// An IAM user as `GetUser` describes it.
public struct IAMUser: Sendable, Hashable {
    /// e.g. `arn:aws:iam::123456789012:user/ops/alice`.
    public var arn: String
    /// The stable unique ID (`AIDA…`).
    public var userID: String
    /// The path, `/` by default.
    public var path: String
    /// The name without the path.
    public var userName: String
    /// The user's tags, key → value.
    public var tags: [String: String]

    /// A user from its fields.
    public init(arn: String, userID: String, path: String, userName: String, tags: [String: String]) {
        self.arn = arn
        self.userID = userID
        self.path = path
        self.userName = userName
        self.tags = tags
    }
}
