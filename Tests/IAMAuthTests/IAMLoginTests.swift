import AWS
import AsyncHTTPClient
import ControlPlaneHarness
import Foundation
import IAMAuth
import MeshTesting
import NIOCore
import NIOHTTP1
import Testing

/// Login with a real SigV4-signed STS request, checked by moto with its authentication on.
@Suite("aws-iam login against moto", .enabled(if: MotoServer.isInstalled, "moto_server is not installed"))
struct IAMLoginTests {
    /// Login tokens of the method, as authz-svc lists them.
    static func loginTokens(_ authz: AuthzUnderTest) async throws -> [[String: Any]] {
        try await authz.admin.get("/v1/acl/tokens?authmethod=iam-ecs-service-token").array
    }

    @Test("a task's role logs in as web: registers web, not api; logout ends the token")
    func login() async throws {
        try await MotoServer.with { moto, httpClient in
            let aws = try await AWSFixture.make(moto, httpClient)
            try await withAuthz { authz in
                try await withIAMAuth(authz: authz) { iamAuth in
                    let admin = iamAuth.with(token: managementSecret)
                    try await aws.configure(admin)

                    let task = try await aws.assume(aws.webRole, session: "task-1")
                    let bearer = try await aws.bearerToken(task)
                    let login = try await iamAuth.post(
                        "/v1/acl/login",
                        json: [
                            "AuthMethod": "iam-ecs-service-token", "BearerToken": bearer,
                            "Meta": ["consul.hashicorp.com/task-id": "task-1"],
                        ]
                    )
                    #expect(login.status == 200, "\(login.text)")
                    let secret = try #require(login.object["SecretID"] as? String)
                    #expect(login.object["AuthMethod"] as? String == "iam-ecs-service-token")
                    // The method's MaxTokenTTL (1h) is the token's life.
                    let expiry = try #require(login.object["ExpirationTime"] as? String)
                    let expires = try #require(
                        try? Date(expiry, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
                    )
                    #expect(abs(expires.timeIntervalSinceNow - 3600) < 120)
                    let identities = login.object["ServiceIdentities"] as? [[String: Any]]
                    #expect(identities?.compactMap { $0["ServiceName"] as? String } == ["web"])
                    #expect(
                        login.object["Description"] as? String
                            == #"token created via login: {"consul.hashicorp.com/task-id":"task-1"}"#
                    )

                    try await withCatalog(enforcedBy: authz) { catalog in
                        let web = catalog.with(token: secret)
                        let node: [String: Any] = ["Node": "task-1", "Address": "10.0.0.1"]
                        #expect(
                            try await catalog.with(token: managementSecret).put("/v1/catalog/register", json: node)
                                .status == 200
                        )
                        var register = node
                        register["Service"] = ["Service": "web", "Port": 8080]
                        #expect(try await web.put("/v1/catalog/register", json: register).status == 200)
                        register["Service"] = ["Service": "api", "Port": 9090]
                        #expect(try await web.put("/v1/catalog/register", json: register).status == 403)

                        let logout = try await iamAuth.with(token: secret).call(.POST, "/v1/acl/logout")
                        #expect(logout.status == 200)
                        #expect(logout.text == "true")
                        // The token is gone everywhere: catalog-svc hears of it through its ACL watch.
                        register["Service"] = ["Service": "web", "Port": 8080]
                        let body = try JSONSerialization.data(withJSONObject: register)
                        try await eventually("catalog refuses the logged-out token") {
                            try await web.call(.PUT, "/v1/catalog/register", body: body).status == 403
                        }
                        let again = try await iamAuth.with(token: secret).call(.POST, "/v1/acl/logout")
                        #expect(again.status == 403)
                        #expect(again.text == "ACL not found")
                    }
                    // A token made by hand cannot be logged out; no token at all is 401.
                    let manual = try await authz.admin.put(
                        "/v1/acl/token",
                        json: ["ServiceIdentities": [["ServiceName": "web"]]]
                    )
                    let manualSecret = try #require(manual.object["SecretID"] as? String)
                    let notLogin = try await iamAuth.with(token: manualSecret).call(.POST, "/v1/acl/logout")
                    #expect(notLogin.status == 403)
                    #expect(notLogin.text == "Permission denied: token wasn't created via login")
                    #expect(try await iamAuth.call(.POST, "/v1/acl/logout").status == 401)
                }
            }
        }
    }

    @Test("past the login rate a login is 429 before any AWS call; a malformed token does not use a permit")
    func loginRate() async throws {
        try await MotoServer.with { moto, httpClient in
            let aws = try await AWSFixture.make(moto, httpClient)
            try await withAuthz { authz in
                // One login per 100 s after a burst of 1: the second valid login in a row is refused.
                try await withIAMAuth(authz: authz, loginRate: 0.01) { iamAuth in
                    try await aws.configure(iamAuth.with(token: managementSecret))
                    let task = try await aws.assume(aws.webRole, session: "task-rate")
                    let bearer = try await aws.bearerToken(task)
                    func login(_ token: String) async throws -> TestAPI.Answer {
                        try await iamAuth.post(
                            "/v1/acl/login",
                            json: ["AuthMethod": "iam-ecs-service-token", "BearerToken": token]
                        )
                    }
                    for _ in 0..<5 { #expect(try await login("{}").status == 403) }
                    let first = try await login(bearer)
                    #expect(first.status == 200, "\(first.text)")
                    let second = try await login(bearer)
                    #expect(second.status == 429)
                    #expect(second.text == "rate limit exceeded, try again later")
                    #expect(try await Self.loginTokens(authz).count == 1)
                }
            }
        }
    }

    @Test(
        "a token signed for AWS's global STS and IAM hosts logs in through the method's configured endpoints (Consul sends it there with the signed Host)"
    )
    func globalHostsThroughConfiguredEndpoints() async throws {
        try await MotoServer.with { moto, httpClient in
            let aws = try await AWSFixture.make(moto, httpClient)
            try await withAuthz { authz in
                try await withIAMAuth(authz: authz) { iamAuth in
                    try await aws.configure(iamAuth.with(token: managementSecret))
                    let task = try await aws.assume(aws.webRole, session: "task-global")
                    // moto checks the signature against the Host header it receives: the login
                    // passes only if that is the host the client signed for.
                    let bearer = try await aws.bearerToken(
                        task,
                        stsHost: URL(string: "https://sts.amazonaws.com/")!,
                        iamHost: URL(string: "https://iam.amazonaws.com/")!
                    )
                    let login = try await iamAuth.post(
                        "/v1/acl/login",
                        json: ["AuthMethod": "iam-ecs-service-token", "BearerToken": bearer]
                    )
                    #expect(login.status == 200, "\(login.text)")
                    let identities = login.object["ServiceIdentities"] as? [[String: Any]]
                    #expect(identities?.compactMap { $0["ServiceName"] as? String } == ["web"])
                    // A host that is neither the endpoint nor AWS's is still refused.
                    let lookalike = try await aws.bearerToken(
                        task,
                        stsHost: URL(string: "https://sts.evil.s3.amazonaws.com/")!,
                        iamHost: URL(string: "https://iam.amazonaws.com/")!
                    )
                    let refused = try await iamAuth.post(
                        "/v1/acl/login",
                        json: ["AuthMethod": "iam-ecs-service-token", "BearerToken": lookalike]
                    )
                    #expect(refused.status == 403)
                    #expect(try await Self.loginTokens(authz).count == 1)
                }
            }
        }
    }

    @Test(
        "refusals are 403 and create nothing: role outside the bound path, wrong server ID, tampered signature, another host, another action, unknown method"
    )
    func refusals() async throws {
        try await MotoServer.with { moto, httpClient in
            let aws = try await AWSFixture.make(moto, httpClient)
            try await withAuthz { authz in
                try await withIAMAuth(authz: authz) { iamAuth in
                    let admin = iamAuth.with(token: managementSecret)
                    try await aws.configure(admin)
                    let task = try await aws.assume(aws.webRole, session: "task-2")

                    func login(
                        _ bearer: String,
                        method: String = "iam-ecs-service-token"
                    ) async throws -> TestAPI.Answer {
                        try await iamAuth.post(
                            "/v1/acl/login",
                            json: ["AuthMethod": method, "BearerToken": bearer]
                        )
                    }
                    let outsider = try await aws.bearerToken(try await aws.assume(aws.outsiderRole, session: "o"))
                    let wrongServer = try await aws.bearerToken(task, serverID: "another.cluster")
                    let valid = try await aws.bearerToken(task)
                    let tampered = try BearerTokenTests.altered(valid, field: "iam_request_headers") { headers in
                        // Flip the last hex digit of the signature.
                        guard let range = headers.range(of: "Signature=") else { return headers }
                        var text = headers
                        let index = text.index(range.upperBound, offsetBy: 63)
                        let digit = text[index]
                        text.replaceSubrange(index...index, with: digit == "0" ? "1" : "0")
                        return text
                    }
                    let port = aws.moto.endpoint.port ?? 0
                    let otherHost = try BearerTokenTests.altered(valid, field: "iam_request_url") { _ in
                        "http://127.0.0.2:\(port)/"
                    }
                    let otherAction = try BearerTokenTests.altered(valid, field: "iam_request_body") { _ in
                        "Action=GetSessionToken&Version=2011-06-15"
                    }
                    for (name, bearer) in [
                        ("outside the bound path", outsider), ("wrong server ID", wrongServer), ("tampered", tampered),
                        ("another host", otherHost), ("another action", otherAction), ("garbage", "{}"),
                    ] {
                        let answer = try await login(bearer)
                        #expect(answer.status == 403, "\(name): \(answer.status) \(answer.text)")
                        #expect(answer.text == "Permission denied", "\(name)")
                    }
                    let unknown = try await login(valid, method: "no-such-method")
                    #expect(unknown.status == 403)
                    #expect(unknown.text == #"ACL not found: auth method "no-such-method" not found"#)
                    #expect(try await Self.loginTokens(authz).isEmpty)

                    // The valid token itself works: the refusals were for what was wrong in each.
                    #expect(try await login(valid).status == 200)
                    #expect(try await Self.loginTokens(authz).count == 1)
                    // Deleting the method deletes the tokens it made, as Consul does.
                    #expect(try await admin.delete("/v1/acl/auth-method/iam-ecs-service-token").status == 200)
                    #expect(try await Self.loginTokens(authz).isEmpty)
                }
            }
        }
    }

    @Test("the ACL controller creates its method and rule, and deletes the token of a task ECS reports stopped")
    func controller() async throws {
        try await MotoServer.with { moto, httpClient in
            let aws = try await AWSFixture.make(moto, httpClient)
            let operatorProvider = StaticCredentialsProvider(aws.operatorCredentials)
            let ecs = ECSClient(
                httpClient: httpClient,
                credentialsProvider: operatorProvider,
                region: "us-east-1",
                endpoint: moto.endpoint,
                // moto's first ECS call loads its ECS backend: many seconds on a loaded machine.
                timeout: .seconds(60)
            )
            let cluster = try await ECSTestCluster.create(ecs, name: "mesh")
            let tasks = try await cluster.run(count: 2)
            try #require(tasks.count == 2)
            let clusterARN = try #require(tasks[0].clusterArn)

            var settings = ACLControllerSettings(
                cluster: "mesh",
                boundIAMPrincipalARNs: ["arn:aws:iam::\(AWSFixture.account):role/consul-ecs/*"]
            )
            settings.stsEndpoint = moto.endpoint.absoluteString
            settings.iamEndpoint = moto.endpoint.absoluteString
            settings.interval = .milliseconds(200)
            let environment = [
                "AWS_ACCESS_KEY_ID": aws.operatorCredentials.accessKeyID,
                "AWS_SECRET_ACCESS_KEY": aws.operatorCredentials.secretAccessKey,
            ]
            let controllerSettings = settings
            try await withAuthz { authz in
                try await withCatalogAndGRPC(enforcedBy: authz) { catalog, catalogGRPC in
                    try await withIAMAuth(
                        authz: authz,
                        controller: controllerSettings,
                        ecsEndpoint: moto.endpoint,
                        catalogAddress: catalogGRPC,
                        awsEnvironment: environment
                    ) { iamAuth in
                        let admin = iamAuth.with(token: managementSecret)
                        try await eventually("the controller creates its auth method and binding rule") {
                            try await admin.get("/v1/acl/binding-rules?authmethod=iam-ecs-service-token").array.count
                                == 1
                        }
                        // …and the cluster's node, which the tasks' instances are registered on.
                        let nodes = try await catalog.with(token: managementSecret).get("/v1/catalog/nodes").array
                        let node = nodes.first { $0["Node"] as? String == clusterARN }
                        #expect(
                            node?["Meta"] as? [String: String] == [
                                "synthetic-node": "true", "consul.hashicorp.com/cluster": clusterARN,
                            ]
                        )
                        // Each task logs in with the task's ID and cluster in its meta, as mesh-agent does.
                        let credentials = try await aws.assume(aws.webRole, session: "tasks")
                        for task in tasks {
                            let answer = try await iamAuth.post(
                                "/v1/acl/login",
                                json: [
                                    "AuthMethod": "iam-ecs-service-token",
                                    "BearerToken": try await aws.bearerToken(credentials, serverID: nil),
                                    "Meta": [
                                        "consul.hashicorp.com/task-id": String(
                                            task.taskArn.split(separator: "/").last!
                                        ),
                                        "consul.hashicorp.com/cluster": clusterARN,
                                    ],
                                ]
                            )
                            #expect(answer.status == 200, "\(answer.text)")
                        }
                        #expect(try await Self.loginTokens(authz).count == 2)

                        try await cluster.stop(tasks[0].taskArn)
                        try await eventually("the stopped task's token is deleted") {
                            try await Self.loginTokens(authz).count == 1
                        }
                        let remaining = try await Self.loginTokens(authz)
                        let description = remaining.first?["Description"] as? String ?? ""
                        #expect(description.contains(String(tasks[1].taskArn.split(separator: "/").last!)))
                    }
                }
            }
        }
    }
}
