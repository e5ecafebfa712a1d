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
        return try IAMRole(response: String(xml))
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
        return try IAMRole(response: String(xml), result: "CreateRoleResult")
    }

    /// Puts an inline policy (JSON) on a role.
    public func putRolePolicy(roleName: String, policyName: String, document: String) async throws(AWSClientError) {
        _ = try await self.transport.query(
            action: "PutRolePolicy",
            version: Self.apiVersion,
            parameters: [("RoleName", roleName), ("PolicyName", policyName), ("PolicyDocument", document)]
        )
    }

    /// Creates a user (for tests and bootstrap: the operator identity that sets up the rest).
    public func createUser(name: String, path: String = "/") async throws(AWSClientError) -> IAMUser {
        let xml = try await self.transport.query(
            action: "CreateUser",
            version: Self.apiVersion,
            parameters: [("UserName", name), ("Path", path)]
        )
        return try IAMUser(getUserResponse: String(xml), result: "CreateUserResult")
    }

    /// Puts an inline policy (JSON) on a user.
    public func putUserPolicy(userName: String, policyName: String, document: String) async throws(AWSClientError) {
        _ = try await self.transport.query(
            action: "PutUserPolicy",
            version: Self.apiVersion,
            parameters: [("UserName", userName), ("PolicyName", policyName), ("PolicyDocument", document)]
        )
    }

    /// Creates a long-term access key for a user.
    public func createAccessKey(userName: String) async throws(AWSClientError) -> AWSCredentials {
        let xml = try await self.transport.query(
            action: "CreateAccessKey",
            version: Self.apiVersion,
            parameters: [("UserName", userName)]
        )
        guard let key = MiniXML.first("AccessKey", in: xml), let id = MiniXML.text("AccessKeyId", in: key),
            let secret = MiniXML.text("SecretAccessKey", in: key)
        else {
            throw .malformedResponse(operation: "CreateAccessKey", reason: "AccessKeyId or SecretAccessKey missing")
        }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret)
    }

    /// The user named `name`, or the caller itself when `name` is `nil` (long-term user credentials only).
    public func getUser(name: String? = nil) async throws(AWSClientError) -> IAMUser {
        let xml = try await self.transport.query(
            action: "GetUser",
            version: Self.apiVersion,
            parameters: name.map { [("UserName", $0)] } ?? []
        )
        return try IAMUser(getUserResponse: String(xml))
    }

    /// A signed `GetRole` (or, for a user, `GetUser`) request, not sent: the entity half of Consul's `aws-iam` bearer
    /// token, which the server replays to learn the caller's path and tags.
    public func signedGetEntityRequest(
        roleName: String? = nil,
        userName: String? = nil,
        credentials: AWSCredentials,
        additionalHeaders: [(name: String, value: String)] = [],
        date: Date = Date()
    ) throws(AWSClientError) -> AWSSignedHTTPRequest {
        var parameters = [("Action", roleName != nil ? "GetRole" : "GetUser"), ("Version", Self.apiVersion)]
        if let roleName {
            parameters.append(("RoleName", roleName))
        } else if let userName {
            parameters.append(("UserName", userName))
        }
        return try self.transport.signedPost(
            body: Array(AWSFormEncoding.encode(parameters).utf8),
            headers: [(name: "Content-Type", value: "application/x-www-form-urlencoded; charset=utf-8")]
                + additionalHeaders,
            credentials: credentials,
            date: date
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
