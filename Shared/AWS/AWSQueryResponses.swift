/// Parsers for the Query-protocol responses the mesh reads, public so that a server replaying a
/// caller's signed request (Consul's `aws-iam` login) reads the answer exactly as the clients do.
extension STSCallerIdentity {
    /// The identity in a `GetCallerIdentityResponse` body.
    public init(getCallerIdentityResponse body: String) throws(AWSClientError) {
        guard let result = MiniXML.first("GetCallerIdentityResult", in: Substring(body)),
            let arn = MiniXML.text("Arn", in: result),
            let userID = MiniXML.text("UserId", in: result),
            let account = MiniXML.text("Account", in: result)
        else {
            throw .malformedResponse(operation: "GetCallerIdentity", reason: "Arn, UserId or Account missing")
        }
        self.init(arn: arn, userID: userID, account: account)
    }
}

extension IAMRole {
    /// The role in a `GetRoleResponse` (or, with `result: "CreateRoleResult"`, a `CreateRoleResponse`) body.
    public init(response body: String, result: String = "GetRoleResult") throws(AWSClientError) {
        let operation = String(result.dropLast("Result".count))
        guard let result = MiniXML.first(result, in: Substring(body)), let role = MiniXML.first("Role", in: result),
            let arn = MiniXML.text("Arn", in: role),
            let roleID = MiniXML.text("RoleId", in: role),
            let roleName = MiniXML.text("RoleName", in: role)
        else {
            throw .malformedResponse(operation: operation, reason: "Arn, RoleId or RoleName missing")
        }
        self.init(
            arn: arn,
            roleID: roleID,
            path: MiniXML.text("Path", in: role) ?? "/",
            roleName: roleName,
            tags: IAMClient.tags(in: role)
        )
    }
}

extension IAMUser {
    /// The user in a `GetUserResponse` (or, with `result: "CreateUserResult"`, a `CreateUserResponse`) body.
    public init(getUserResponse body: String, result: String = "GetUserResult") throws(AWSClientError) {
        guard let result = MiniXML.first(result, in: Substring(body)),
            let user = MiniXML.first("User", in: result),
            let arn = MiniXML.text("Arn", in: user),
            let userID = MiniXML.text("UserId", in: user),
            let userName = MiniXML.text("UserName", in: user)
        else {
            throw .malformedResponse(operation: "GetUser", reason: "Arn, UserId or UserName missing")
        }
        self.init(
            arn: arn,
            userID: userID,
            path: MiniXML.text("Path", in: user) ?? "/",
            userName: userName,
            tags: IAMClient.tags(in: user)
        )
    }
}
