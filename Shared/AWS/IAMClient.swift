public import AsyncHTTPClient
public import Foundation
public import NIOCore

/// A minimal IAM client: look up roles and users (and create roles, for tests and bootstrap).
public struct IAMClient: Sendable {
    /// The API version of the Query protocol calls.
    public static let apiVersion = "2010-05-08"

    let transport: AWSServiceTransport

    /// A client for `endpoint` (default: the global `https://iam.amazonaws.com`, signed for `us-east-1`).
    public init(
        httpClient: HTTPClient,
        credentialsProvider: any AWSCredentialsProvider,
        region: String = "us-east-1",
        endpoint: URL? = nil,
        timeout: TimeAmount = .seconds(10)
    ) {
        self.transport = AWSServiceTransport(
            httpClient: httpClient,
            endpoint: endpoint ?? URL(string: "https://iam.amazonaws.com/") ?? URL(fileURLWithPath: "/"),
            region: region,
            service: "iam",
            credentialsProvider: credentialsProvider,
            timeout: timeout
        )
    }

    /// The role named `name`. A missing role is `.service` with code `NoSuchEntity`.
    public func getRole(name: String) async throws(AWSClientError) -> IAMRole {
        let xml = try await self.transport.query(
            action: "GetRole",
            version: Self.apiVersion,
            parameters: [("RoleName", name)]
        )
        return try Self.role(in: xml, result: "GetRoleResult", operation: "GetRole")
    }

    /// Creates a role with `assumeRolePolicyDocument` (JSON), under `path`, with `tags`; returns it as created.
    public func createRole(
        name: String,
        assumeRolePolicyDocument: String,
        path: String = "/",
        tags: [(key: String, value: String)] = []
    ) async throws(AWSClientError) -> IAMRole {
        var parameters = [("RoleName", name), ("AssumeRolePolicyDocument", assumeRolePolicyDocument), ("Path", path)]
        for (index, tag) in tags.enumerated() {
            parameters.append(("Tags.member.\(index + 1).Key", tag.key))
            parameters.append(("Tags.member.\(index + 1).Value", tag.value))
        }
        let xml = try await self.transport.query(action: "CreateRole", version: Self.apiVersion, parameters: parameters)
        return try Self.role(in: xml, result: "CreateRoleResult", operation: "CreateRole")
    }

    /// The user named `name`, or the caller itself when `name` is `nil` (long-term user credentials only).
    public func getUser(name: String? = nil) async throws(AWSClientError) -> IAMUser {
        let xml = try await self.transport.query(
            action: "GetUser",
            version: Self.apiVersion,
            parameters: name.map { [("UserName", $0)] } ?? []
        )
        guard let result = MiniXML.first("GetUserResult", in: xml), let user = MiniXML.first("User", in: result),
            let arn = MiniXML.text("Arn", in: user),
            let userID = MiniXML.text("UserId", in: user),
            let userName = MiniXML.text("UserName", in: user)
        else {
            throw .malformedResponse(operation: "GetUser", reason: "Arn, UserId or UserName missing")
        }
        return IAMUser(
            arn: arn,
            userID: userID,
            path: MiniXML.text("Path", in: user) ?? "/",
            userName: userName,
            tags: Self.tags(in: user)
        )
    }

    private static func role(in xml: Substring, result: String, operation: String) throws(AWSClientError) -> IAMRole {
        guard let result = MiniXML.first(result, in: xml), let role = MiniXML.first("Role", in: result),
            let arn = MiniXML.text("Arn", in: role),
            let roleID = MiniXML.text("RoleId", in: role),
            let roleName = MiniXML.text("RoleName", in: role)
        else {
            throw .malformedResponse(operation: operation, reason: "Arn, RoleId or RoleName missing")
        }
        return IAMRole(
            arn: arn,
            roleID: roleID,
            path: MiniXML.text("Path", in: role) ?? "/",
            roleName: roleName,
            tags: Self.tags(in: role)
        )
    }

    /// `<Tags><member><Key>…</Key><Value>…</Value></member>…</Tags>` as a dictionary.
    static func tags(in xml: Substring) -> [String: String] {
        guard let tags = MiniXML.first("Tags", in: xml) else {
            return [:]
        }
        var result: [String: String] = [:]
        for member in MiniXML.all("member", in: tags) {
            if let key = MiniXML.text("Key", in: member) {
                result[key] = MiniXML.text("Value", in: member) ?? ""
            }
        }
        return result
    }
}
