// login-bench: AWS IAM logins per second end to end (POST /v1/acl/login to iam-auth-svc, which
// replays the signed STS and IAM requests to AWS, applies the binding rules, and has authz-svc
// store the token), beside two references measured in the same run on the same machine:
//   A. the same two AWS calls (sts:GetCallerIdentity + iam:GetRole) made directly by this
//      process: the ceiling any login is bound by, since every login makes both;
//   B. token creation through authz-svc's REST API (PUT /v1/acl/token): the store's part alone.
// AWS is a local moto_server with its authentication on (signatures and IAM policies checked).
// The services run in this process (release build), each on its own database.
// Usage: swift build -c release --product login-bench && .build/release/login-bench [--seconds 5] [--clients 8]
import AWS
import AsyncHTTPClient
import BenchSupport
import ControlPlaneHarness
import Foundation
import MeshTesting
import NIOHTTP1

struct Options {
    var seconds = 5.0
    var clients = 8

    init(arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            let value = iterator.next() ?? ""
            switch flag {
            case "--seconds": self.seconds = Double(value) ?? self.seconds
            case "--clients": self.clients = Int(value) ?? self.clients
            default: break
            }
        }
    }
}

let options = Options(arguments: CommandLine.arguments)
say("login-bench: \(options.clients) clients, \(fmt(options.seconds, 0)) s per measurement")

try await MotoServer.with { moto, httpClient in
    let aws = try await AWSFixture.make(moto, httpClient)
    let credentials = try await aws.assume(aws.webRole, session: "bench")
    let provider = StaticCredentialsProvider(credentials)
    let sts = STSClient(httpClient: httpClient, credentialsProvider: provider, endpoint: moto.endpoint)
    let iam = IAMClient(httpClient: httpClient, credentialsProvider: provider, endpoint: moto.endpoint)
    // One bearer token per client, made once: the server does the same work for a replayed token.
    var tokens: [String] = []
    for _ in 0..<options.clients { tokens.append(try await aws.bearerToken(credentials)) }
    let bearers = tokens

    let direct = try await rate(clients: options.clients, seconds: options.seconds) { _, _ in
        _ = try await sts.getCallerIdentity()
        _ = try await iam.getRole(name: aws.webRole.roleName)
    }
    say("A. direct sts:GetCallerIdentity + iam:GetRole pairs: \(fmt(direct)) /s")

    try await withAuthz { authz in
        let created = try await rate(clients: options.clients, seconds: options.seconds) { _, _ in
            let answer = try await authz.admin.put(
                "/v1/acl/token",
                json: ["ServiceIdentities": [["ServiceName": "web"]]]
            )
            guard answer.status == 200 else { throw TestFailure("token create: \(answer.status)") }
        }
        say("B. tokens created through authz-svc REST: \(fmt(created)) /s")

        try await withIAMAuth(authz: authz) { iamAuth in
            let admin = iamAuth.with(token: managementSecret)
            try await aws.configure(admin)
            let body = try JSONSerialization.data(withJSONObject: [
                "AuthMethod": "iam-ecs-service-token", "BearerToken": bearers[0],
            ])
            // Latency of one login at a time.
            var latencies: [Double] = []
            for _ in 0..<50 {
                let start = ContinuousClock.now
                let answer = try await iamAuth.call(.POST, "/v1/acl/login", body: body)
                guard answer.status == 200 else { throw TestFailure("login: \(answer.status) \(answer.text)") }
                latencies.append(seconds(ContinuousClock.now - start) * 1000)
            }
            let bodies = try bearers.map {
                try JSONSerialization.data(withJSONObject: ["AuthMethod": "iam-ecs-service-token", "BearerToken": $0])
            }
            let logins = try await rate(clients: options.clients, seconds: options.seconds) { client, _ in
                let answer = try await iamAuth.call(.POST, "/v1/acl/login", body: bodies[client])
                guard answer.status == 200 else { throw TestFailure("login: \(answer.status) \(answer.text)") }
            }
            say("logins end to end: \(fmt(logins)) /s")
            say(
                "  = \(fmt(logins / direct, 2))x of A (the AWS calls alone), \(fmt(logins / created, 2))x of B (token creation alone)"
            )
            say(
                "  single-client login latency: p50 \(fmt(percentile(latencies, 50))) ms, "
                    + "p99 \(fmt(percentile(latencies, 99))) ms"
            )
        }
    }
}
