public import AWS
public import AsyncHTTPClient
public import Foundation

/// AWS as the tests set it up in moto: a role for `web` under `/consul-ecs/`, one outside that
/// path, and an operator user whose keys work once moto's authentication is on.
public struct AWSFixture: Sendable {
    public static let account = "123456789012"
    public static let serviceTag = "consul.hashicorp.com.service-name"
    public static let serverID = "mesh.test"

    public let moto: MotoServer
    public let httpClient: HTTPClient
    public let operatorCredentials: AWSCredentials
    public let webRole: IAMRole
    public let outsiderRole: IAMRole

    public static func make(_ moto: MotoServer, _ httpClient: HTTPClient) async throws -> AWSFixture {
        let setup = StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKIDSETUP", secretAccessKey: "setup"))
        let iam = IAMClient(httpClient: httpClient, credentialsProvider: setup, endpoint: moto.endpoint)
        let trust =
            #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#
        let readSelf =
            #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetRole","iam:GetUser","sts:GetCallerIdentity"],"Resource":"*"}]}"#
        let web = try await iam.createRole(
            name: "web-task",
            assumeRolePolicyDocument: trust,
            path: "/consul-ecs/",
            tags: [(Self.serviceTag, "web")]
        )
        let outsider = try await iam.createRole(
            name: "outsider",
            assumeRolePolicyDocument: trust,
            path: "/elsewhere/",
            tags: [(Self.serviceTag, "web")]
        )
        for role in [web, outsider] {
            try await iam.putRolePolicy(roleName: role.roleName, policyName: "read-self", document: readSelf)
        }
        _ = try await iam.createUser(name: "operator")
        try await iam.putUserPolicy(
            userName: "operator",
            policyName: "all",
            document: #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#
        )
        let keys = try await iam.createAccessKey(userName: "operator")
        // From here on moto checks signatures and permissions as AWS does.
        try await moto.enableAuthentication(httpClient)
        return AWSFixture(
            moto: moto,
            httpClient: httpClient,
            operatorCredentials: keys,
            webRole: web,
            outsiderRole: outsider
        )
    }

    /// The credentials a task running under `role` gets.
    public func assume(_ role: IAMRole, session: String) async throws -> AWSCredentials {
        let sts = STSClient(
            httpClient: self.httpClient,
            credentialsProvider: StaticCredentialsProvider(self.operatorCredentials),
            endpoint: self.moto.endpoint
        )
        return try await sts.assumeRole(roleARN: role.arn, sessionName: session)
    }

    /// A bearer token as `meshctl login` / mesh-agent make it with `credentials`, signed for
    /// moto's address, or for `stsHost` and `iamHost` (such as AWS's global hosts, which a
    /// client built like Consul's signs for whatever endpoint the server sends to).
    public func bearerToken(
        _ credentials: AWSCredentials,
        serverID: String? = Self.serverID,
        stsHost: URL? = nil,
        iamHost: URL? = nil
    ) async throws -> String {
        let provider = StaticCredentialsProvider(credentials)
        return try await IAMLoginBearerToken(
            sts: STSClient(
                httpClient: self.httpClient,
                credentialsProvider: provider,
                endpoint: stsHost ?? self.moto.endpoint
            ),
            iam: IAMClient(
                httpClient: self.httpClient,
                credentialsProvider: provider,
                endpoint: iamHost ?? self.moto.endpoint
            ),
            lookup: STSClient(httpClient: self.httpClient, credentialsProvider: provider, endpoint: self.moto.endpoint)
        ).make(includeEntity: true, serverIDHeaderValue: serverID)
    }

    /// consul-ecs's auth method for service tokens, pointed at moto.
    public var authMethod: [String: Any] {
        [
            "Name": "iam-ecs-service-token",
            "Type": "aws-iam",
            "MaxTokenTTL": "1h",
            "Config": [
                "BoundIAMPrincipalARNs": ["arn:aws:iam::\(Self.account):role/consul-ecs/*"],
                "EnableIAMEntityDetails": true,
                "IAMEntityTags": [Self.serviceTag],
                "STSEndpoint": self.moto.endpoint.absoluteString,
                "IAMEndpoint": self.moto.endpoint.absoluteString,
                "ServerIDHeaderValue": Self.serverID,
            ] as [String: Any],
        ]
    }

    public var serviceRule: [String: Any] {
        [
            "AuthMethod": "iam-ecs-service-token",
            "BindType": "service",
            "BindName": "${entity_tags.\(Self.serviceTag)}",
        ]
    }

    /// Creates consul-ecs's auth method and service binding rule through `api` (which holds a
    /// token with `acl:write`).
    public func configure(_ api: TestAPI) async throws {
        let method = try await api.put("/v1/acl/auth-method", json: self.authMethod)
        guard method.status == 200 else { throw TestFailure("auth method: \(method.status) \(method.text)") }
        let rule = try await api.put("/v1/acl/binding-rule", json: self.serviceRule)
        guard rule.status == 200 else { throw TestFailure("binding rule: \(rule.status) \(rule.text)") }
    }
}
