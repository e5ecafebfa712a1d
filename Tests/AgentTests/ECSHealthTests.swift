import Agent
import Foundation
import MeshCore
import Testing

@Suite("ECS health sync rules")
struct ECSHealthTests {
    static let cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/mesh"
    static let taskARN = "arn:aws:ecs:us-east-1:123456789012:task/mesh/0123456789abcdef"

    func task(
        app: String? = "HEALTHY",
        appStatus: String = "RUNNING",
        desired: String = "RUNNING",
        proxyStatus: String = "RUNNING"
    ) -> ECSTaskMetadata {
        ECSTaskMetadata(
            cluster: Self.cluster,
            taskARN: Self.taskARN,
            desiredStatus: desired,
            containers: [
                .init(name: "app", knownStatus: appStatus, health: app, ipv4: ["10.0.1.5"]),
                .init(name: "mesh-proxy", knownStatus: proxyStatus, health: "HEALTHY", ipv4: ["10.0.1.5"]),
                .init(name: "mesh-agent", knownStatus: "RUNNING"),
            ]
        )
    }

    @Test("passing only while every synced container runs and is HEALTHY, and the task is not stopping")
    func evaluate() {
        #expect(ECSHealth.evaluate(self.task(), containers: ["app", "mesh-proxy"]).0 == .passing)
        let unhealthy = ECSHealth.evaluate(self.task(app: "UNHEALTHY"), containers: ["app"])
        #expect(unhealthy.0 == .critical)
        #expect(unhealthy.1.contains("app is UNHEALTHY"))
        #expect(ECSHealth.evaluate(self.task(app: "UNKNOWN"), containers: ["app"]).0 == .critical)
        #expect(ECSHealth.evaluate(self.task(app: nil), containers: ["app"]).0 == .critical)
        #expect(ECSHealth.evaluate(self.task(appStatus: "STOPPED"), containers: ["app"]).1.contains("stopped"))
        #expect(ECSHealth.evaluate(self.task(desired: "STOPPED"), containers: ["app"]).0 == .critical)
        #expect(ECSHealth.evaluate(self.task(), containers: ["sidecar"]).1.contains("not in the task"))
        // No synced containers: the task running is enough.
        #expect(ECSHealth.evaluate(self.task(app: "UNHEALTHY"), containers: []).0 == .passing)
    }

    @Test("shutdown waits for every container but the agent's own")
    func othersStopped() {
        #expect(!ECSHealth.othersStopped(self.task(), excluding: ["mesh-agent"]))
        #expect(!ECSHealth.othersStopped(self.task(appStatus: "STOPPED"), excluding: ["mesh-agent"]))
        #expect(
            ECSHealth.othersStopped(self.task(appStatus: "STOPPED", proxyStatus: "STOPPED"), excluding: ["mesh-agent"])
        )
    }

    @Test("on ECS the instance is the task: cluster ARN as node, task ARN as ID, the task's IP")
    func instance() throws {
        let instance = try AppInstance.onECS(self.task(), service: "web", port: 8080)
        #expect(instance.node == Self.cluster)
        #expect(instance.serviceID == Self.taskARN)
        #expect(instance.address == "10.0.1.5")
        #expect(instance.skipNodeUpdate)
        #expect(self.task().taskID == "0123456789abcdef")
        #expect(self.task().loginMeta["consul.hashicorp.com/cluster"] == Self.cluster)
        let decoded = try JSONDecoder().decode(
            ECSTaskMetadata.self,
            from: Data(
                #"""
                {"Cluster": "c", "TaskARN": "arn:aws:ecs:r:1:task/c/t1", "DesiredStatus": "RUNNING",
                 "KnownStatus": "RUNNING", "Family": "web", "Revision": "3", "Containers": [
                  {"DockerId": "d", "Name": "app", "DockerName": "ecs-app", "Image": "nginx", "KnownStatus": "RUNNING",
                   "DesiredStatus": "RUNNING", "Health": {"status": "HEALTHY", "statusSince": "2026-01-01T00:00:00Z"},
                   "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.2.106"]}]}]}
                """#.utf8
            )
        )
        #expect(decoded.privateIPv4 == "10.0.2.106")
        #expect(decoded.Containers?.first?.Health?.status == "HEALTHY")
    }
}
