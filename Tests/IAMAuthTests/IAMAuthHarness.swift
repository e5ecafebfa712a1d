import AWS
import AsyncHTTPClient
import ControlPlaneHarness
import Foundation
import IAMAuth
import MeshCore
import MeshRPC
import MeshStore
import MeshTesting

/// Runs iam-auth-svc against the authz-svc under test, with the management token as its own.
func withIAMAuth<T: Sendable>(
    authz: AuthzUnderTest,
    controller: ACLControllerSettings? = nil,
    ecsEndpoint: URL? = nil,
    awsEnvironment: [String: String] = [:],
    _ body: @Sendable (TestAPI) async throws -> T
) async throws -> T {
    var database = try await TestDatabase.fresh()
    database.maximumConnections = 4
    var config = IAMAuthConfig(
        database: database,
        authzAddress: authz.grpc,
        serviceToken: managementSecret,
        grpcAddress: HostPort(host: "127.0.0.1", port: 0),
        httpAddress: HostPort(host: "127.0.0.1", port: 0)
    )
    config.controller = controller
    config.ecsEndpoint = ecsEndpoint
    config.awsEnvironment = awsEnvironment
    config.drainTimeout = .seconds(1)
    config.leaderRetryInterval = .milliseconds(100)
    config.resolveTimeout = .seconds(30)
    let server = try IAMAuthServer(config: config, logger: testLogger)
    return try await withRunning([server.postgres, server], logger: testLogger, ready: { await server.ready.value }) {
        let api = TestAPI(await server.httpAddress.value)
        try await eventually("iam-auth-svc /ready") { try await api.get("/ready").status == 200 }
        return try await body(api)
    }
}

/// AWS as the tests set it up in moto: a role for `web` under `/consul-ecs/`, one outside that
/// path, and an operator user whose keys work once moto's authentication is on.
struct AWSFixture: Sendable {
    static let account = "123456789012"
    static let serviceTag = "consul.hashicorp.com.service-name"
    static let serverID = "mesh.test"

    let moto: MotoServer
    let httpClient: HTTPClient
    let operatorCredentials: AWSCredentials
    let webRole: IAMRole
    let outsiderRole: IAMRole

    static func make(_ moto: MotoServer, _ httpClient: HTTPClient) async throws -> AWSFixture {
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
    func assume(_ role: IAMRole, session: String) async throws -> AWSCredentials {
        let sts = STSClient(
            httpClient: self.httpClient,
            credentialsProvider: StaticCredentialsProvider(self.operatorCredentials),
            endpoint: self.moto.endpoint
        )
        return try await sts.assumeRole(roleARN: role.arn, sessionName: session)
    }

    /// A bearer token as `meshctl login` / mesh-agent make it with `credentials`.
    func bearerToken(_ credentials: AWSCredentials, serverID: String? = Self.serverID) async throws -> String {
        let provider = StaticCredentialsProvider(credentials)
        return try await IAMLoginBearerToken(
            sts: STSClient(
                httpClient: self.httpClient,
                credentialsProvider: provider,
                endpoint: self.moto.endpoint
            ),
            iam: IAMClient(httpClient: self.httpClient, credentialsProvider: provider, endpoint: self.moto.endpoint)
        ).make(includeEntity: true, serverIDHeaderValue: serverID)
    }

    /// consul-ecs's auth method for service tokens, pointed at moto.
    var authMethod: [String: Any] {
        [
            "Name": "iam-ecs-service-token",
            "Type": "aws-iam",
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

    var serviceRule: [String: Any] {
        [
            "AuthMethod": "iam-ecs-service-token",
            "BindType": "service",
            "BindName": "${entity_tags.\(Self.serviceTag)}",
        ]
    }
}
