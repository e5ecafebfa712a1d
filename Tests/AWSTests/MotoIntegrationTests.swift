import AsyncHTTPClient
import Foundation
import MeshTesting
import NIOCore
import Testing

@testable import AWS

@Suite("STS, IAM and ECS clients against a local moto_server", .enabled(if: MotoServer.isInstalled))
struct MotoIntegrationTests {
    @Test("GetCallerIdentity returns moto's default account")
    func callerIdentity() async throws {
        try await MotoServer.with { moto, httpClient in
            let sts = STSClient(
                httpClient: httpClient,
                credentialsProvider: MotoServer.credentials,
                endpoint: moto.endpoint
            )
            let identity = try await sts.getCallerIdentity()
            #expect(identity.account == "123456789012")
            #expect(identity.arn.hasPrefix("arn:aws:"))
            #expect(!identity.userID.isEmpty)
        }
    }

    @Test("CreateRole with a path and tags, then GetRole returns them; a missing role is NoSuchEntity")
    func roles() async throws {
        try await MotoServer.with { moto, httpClient in
            let iam = IAMClient(
                httpClient: httpClient,
                credentialsProvider: MotoServer.credentials,
                endpoint: moto.endpoint
            )
            let policy =
                #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","#
                + #""Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#
            let created = try await iam.createRole(
                name: "web",
                assumeRolePolicyDocument: policy,
                path: "/mesh/",
                tags: [(key: "consul-namespace", value: "default"), (key: "team", value: "a&b <c>")]
            )
            let role = try await iam.getRole(name: "web")
            #expect(role == created)
            #expect(role.arn == "arn:aws:iam::123456789012:role/mesh/web")
            #expect(role.path == "/mesh/")
            #expect(role.roleName == "web")
            #expect(!role.roleID.isEmpty)
            #expect(role.tags == ["consul-namespace": "default", "team": "a&b <c>"])

            do throws(AWSClientError) {
                _ = try await iam.getRole(name: "absent")
                Issue.record("expected NoSuchEntity")
            } catch {
                guard case .service(let serviceError) = error else {
                    Issue.record("unexpected \(error)")
                    return
                }
                #expect(serviceError.status == 404)
                #expect(serviceError.code == "NoSuchEntity")
                #expect(serviceError.message?.contains("absent") == true)
            }
        }
    }

    @Test("ECS: ListTasks on an empty cluster, RunTask, ListTasks, DescribeTasks, StopTask")
    func tasks() async throws {
        try await MotoServer.with { moto, httpClient in
            let ecs = ECSClient(
                httpClient: httpClient,
                credentialsProvider: MotoServer.credentials,
                region: "us-east-1",
                endpoint: moto.endpoint,
                // moto's first ECS call loads its ECS backend: many seconds on a loaded machine.
                timeout: .seconds(60)
            )
            let cluster = try await ECSTestCluster.create(ecs, name: "mesh")
            #expect(try await ecs.listTasks(cluster: "mesh").isEmpty)
            let started = try #require(try await cluster.run(count: 1).first)

            let running = try await ecs.listTasks(cluster: "mesh", desiredStatus: "RUNNING")
            #expect(running == [started.taskArn])
            let described = try await ecs.describeTasks(cluster: "mesh", tasks: [started.taskArn])
            #expect(described.tasks.map(\.taskArn) == [started.taskArn])
            // moto advances `lastStatus` on its own (RUNNING → DEACTIVATING → …); only its presence is stable.
            #expect(described.tasks.first?.lastStatus?.isEmpty == false)
            #expect(described.tasks.first?.desiredStatus == "RUNNING")
            #expect(described.tasks.first?.clusterArn?.hasSuffix(":cluster/mesh") == true)

            try await cluster.stop(started.taskArn)
            #expect(try await ecs.listTasks(cluster: "mesh", desiredStatus: "RUNNING").isEmpty)
            let stopped = try await ecs.describeTasks(cluster: "mesh", tasks: [started.taskArn])
            #expect(stopped.tasks.first?.desiredStatus == "STOPPED")

            do throws(AWSClientError) {
                _ = try await ecs.listTasks(cluster: "missing")
                Issue.record("expected ClusterNotFoundException")
            } catch {
                guard case .service(let serviceError) = error else {
                    Issue.record("unexpected \(error)")
                    return
                }
                #expect(serviceError.code == "ClusterNotFoundException")
            }
        }
    }
}
