import AWS
import Foundation
import MeshTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 6 end to end, through real processes: moto as AWS (authentication on), `meshctl dev`,
/// `mesh-agent init`/`run` and `meshctl login`/`logout` as an ECS task and an operator use them.
extension DevTests {
    @Suite("meshctl dev: AWS IAM login", .enabled(if: MotoServer.isInstalled, "moto_server is not installed"))
    struct IAMLogin {
        @Test("mesh-agent logs in with the task role, registers web and not api, deregisters and logs out at SIGTERM")
        func agent() async throws {
            try await MotoServer.with { moto, httpClient in
                let aws = try await AWSFixture.make(moto, httpClient)
                let token = UUID().uuidString.lowercased()
                try await RunningDev.with(token: token) { dev in
                    let admin = dev.api.with(token: token)
                    try await aws.configure(admin)
                    let node: [String: Any] = ["Node": "task-1", "Address": "10.0.0.1"]
                    #expect(try await admin.put("/v1/catalog/register", json: node).status == 200)

                    // The task's environment: its role's credentials, nothing else of ours.
                    let credentials = try await aws.assume(aws.webRole, session: "task-1")
                    let environment: [String: String?] = [
                        "AWS_ACCESS_KEY_ID": credentials.accessKeyID,
                        "AWS_SECRET_ACCESS_KEY": credentials.secretAccessKey,
                        "AWS_SESSION_TOKEN": credentials.sessionToken, "AWS_REGION": "us-east-1",
                        "AWS_PROFILE": nil, "AWS_CONTAINER_CREDENTIALS_FULL_URI": nil,
                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": nil, "ECS_CONTAINER_METADATA_URI_V4": nil,
                        "CONSUL_HTTP_TOKEN": nil,
                    ]
                    let awsOptions = [
                        "--aws-sts-endpoint", moto.endpoint.absoluteString, "--aws-iam-endpoint",
                        moto.endpoint.absoluteString, "--aws-include-entity", "--aws-server-id-header-value",
                        AWSFixture.serverID,
                    ]
                    let tokenFile = NSTemporaryDirectory() + "mesh-agent-token-\(UUID().uuidString)"
                    defer { unlink(tokenFile) }
                    let instance = [
                        "--http-addr", dev.address, "--node", "task-1", "--address", "10.0.0.1", "--port", "8080",
                        "--token-file", tokenFile,
                    ]
                    let initWeb = try await RunningDev.run(
                        "mesh-agent",
                        ["init", "--auth-method", "iam-ecs-service-token", "--service", "web"] + awsOptions + instance,
                        environment: environment
                    )
                    #expect(initWeb.status == 0, "\(initWeb.output)")
                    let secret = try String(contentsOfFile: tokenFile, encoding: .utf8)
                    let me = try await dev.api.with(token: secret).get("/v1/acl/token/self")
                    #expect(me.object["AuthMethod"] as? String == "iam-ecs-service-token")
                    #expect(try await admin.get("/v1/catalog/service/web").array.count == 1)
                    #expect(try await admin.get("/v1/catalog/service/web-sidecar-proxy").array.count == 1)

                    // The same role cannot register another service.
                    let apiTokenFile = tokenFile + "-api"
                    defer { unlink(apiTokenFile) }
                    let initAPI = try await RunningDev.run(
                        "mesh-agent",
                        ["init", "--auth-method", "iam-ecs-service-token", "--service", "api"] + awsOptions
                            + instance.dropLast(2) + ["--token-file", apiTokenFile],
                        environment: environment
                    )
                    #expect(initAPI.status == 1)
                    #expect(initAPI.output.contains("403"), "\(initAPI.output)")
                    #expect(try await admin.get("/v1/catalog/service/api").array.isEmpty)

                    // `run` holds the instance until SIGTERM, then deregisters it and logs out.
                    let log = NSTemporaryDirectory() + "mesh-agent-run-\(UUID().uuidString).log"
                    defer { unlink(log) }
                    var runEnvironment = ProcessInfo.processInfo.environment
                    runEnvironment["MESH_LOG_LEVEL"] = "info"
                    let run = try Spawned.launch(
                        builtExecutable("mesh-agent"),
                        ["run", "--service", "web"] + instance,
                        environment: runEnvironment,
                        outputPath: log
                    )
                    defer { run.stop() }
                    try await eventually(within: .seconds(30), "mesh-agent run is waiting for SIGTERM") {
                        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("running;")
                    }
                    kill(run.pid, SIGTERM)
                    #expect(try await run.waitForExit() == 0)
                    #expect(try await admin.get("/v1/catalog/service/web").array.isEmpty)
                    #expect(try await admin.get("/v1/catalog/service/web-sidecar-proxy").array.isEmpty)
                    #expect(try await dev.api.with(token: secret).get("/v1/acl/token/self").status == 403)
                }
            }
        }

        @Test("meshctl login writes a login token to the sink file; meshctl logout ends it")
        func meshctlLogin() async throws {
            try await MotoServer.with { moto, httpClient in
                let aws = try await AWSFixture.make(moto, httpClient)
                let token = UUID().uuidString.lowercased()
                try await RunningDev.with(token: token) { dev in
                    let admin = dev.api.with(token: token)
                    try await aws.configure(admin)
                    let credentials = try await aws.assume(aws.webRole, session: "operator-laptop")
                    let environment: [String: String?] = [
                        "AWS_ACCESS_KEY_ID": credentials.accessKeyID,
                        "AWS_SECRET_ACCESS_KEY": credentials.secretAccessKey,
                        "AWS_SESSION_TOKEN": credentials.sessionToken, "AWS_PROFILE": nil,
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI": nil, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": nil,
                        "CONSUL_HTTP_TOKEN": nil,
                    ]
                    let sink = NSTemporaryDirectory() + "meshctl-login-\(UUID().uuidString)"
                    defer { unlink(sink) }
                    let login = try await RunningDev.run(
                        "meshctl",
                        [
                            "login", "-http-addr", dev.address, "-type", "aws-iam", "-method", "iam-ecs-service-token",
                            "-token-sink-file", sink, "-aws-sts-endpoint", moto.endpoint.absoluteString,
                            "-aws-iam-endpoint", moto.endpoint.absoluteString, "-aws-include-entity",
                            "-aws-server-id-header-value", AWSFixture.serverID, "-meta", "purpose=test",
                        ],
                        environment: environment
                    )
                    #expect(login.status == 0, "\(login.output)")
                    let secret = try String(contentsOfFile: sink, encoding: .utf8)
                    let attributes = try FileManager.default.attributesOfItem(atPath: sink)
                    #expect((attributes[.posixPermissions] as? Int) == 0o600)
                    let me = try await dev.api.with(token: secret).get("/v1/acl/token/self")
                    #expect(me.status == 200)
                    #expect(me.object["Description"] as? String == #"token created via login: {"purpose":"test"}"#)

                    let logout = try await RunningDev.run(
                        "meshctl",
                        ["logout", "-http-addr", dev.address, "-token-file", sink],
                        environment: environment
                    )
                    #expect(logout.status == 0, "\(logout.output)")
                    #expect(try await dev.api.with(token: secret).get("/v1/acl/token/self").status == 403)
                }
            }
        }
    }
}
