import AWS
import Foundation
import MeshCore
import MeshTesting
import NIOCore
import Testing

@testable import CLI

@Suite("meshctl ecs mesh-task")
struct MeshTaskTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/http-server-task.json")

    static func input() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixture)) as? [String: Any])
    }

    static var task: MeshTask {
        var task = MeshTask(
            service: "http-server",
            upstreams: [("api", 1234)],
            meshAddress: "https://mesh.internal:8500",
            distributorAddress: "grpc.mesh.internal:8510",
            imageRepository: "123456789012.dkr.ecr.us-east-1.amazonaws.com/swift-mesh",
            imageTag: "1.2.3"
        )
        task.serverIDHeaderValue = "mesh.internal"
        task.distributorCAPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        return task
    }

    static func container(_ name: String, in task: [String: Any]) -> [String: Any]? {
        (task["containerDefinitions"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    @Test("adds the agent and proxy, the dependencies, the volume and the port, keeping the app as it was")
    func transform() throws {
        let meshed = try Self.task.apply(to: try Self.input())
        let names = (meshed["containerDefinitions"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["app", "log-router", "mesh-agent", "mesh-proxy"])

        let app = try #require(Self.container("app", in: meshed))
        #expect(app["image"] as? String == "public.ecr.aws/example/http-server:1.0")
        #expect((app["dependsOn"] as? [[String: String]]) == [["containerName": "mesh-proxy", "condition": "HEALTHY"]])
        #expect((app["environment"] as? [[String: String]])?.first?["value"] == "hello world")

        let proxy = try #require(Self.container("mesh-proxy", in: meshed))
        #expect(proxy["essential"] as? Bool == true)
        #expect(
            (proxy["dependsOn"] as? [[String: String]]) == [["containerName": "mesh-agent", "condition": "HEALTHY"]]
        )
        #expect((proxy["portMappings"] as? [[String: Any]])?.first?["containerPort"] as? Int == 21000)
        // The proxy runs from the bootstrap the agent writes; the agent registers the upstreams.
        #expect(proxy["command"] as? [String] == ["run", "--bootstrap", "/mesh/proxy.json"])
        #expect((proxy["environment"] as? [[String: String]])?.first?["name"] == "MESH_DISTRIBUTOR_CA_PEM")

        let agent = try #require(Self.container("mesh-agent", in: meshed))
        #expect(agent["essential"] as? Bool == false)
        #expect(agent["image"] as? String == "123456789012.dkr.ecr.us-east-1.amazonaws.com/swift-mesh/mesh-agent:1.2.3")
        let command = try #require(agent["command"] as? [String])
        #expect(Array(command.prefix(2)) == ["run", "--init"])
        #expect(command.contains("api:1234") && command.contains("grpc.mesh.internal:8510"))
        #expect(command.split(separator: "--port").count == 2 && command.contains("9090"))
        #expect(command.contains("/mesh/proxy.json"))
        // Only the essential container with a health check decides the instance's health.
        let synced = try #require(command.firstIndex(of: "--health-sync-containers"))
        #expect(command[synced + 1] == "app")
        #expect(command.contains("--aws-include-entity") && command.contains("mesh.internal"))
        let proxyPort = try #require(command.firstIndex(of: "--proxy-port"))
        #expect(command[proxyPort + 1] == "21000")
        #expect((agent["healthCheck"] as? [String: Any])?["command"] as? [String] != nil)
        // The agent and proxy share the volume the token is left on; logs go where the app's go.
        #expect((meshed["volumes"] as? [[String: String]])?.contains(["name": "mesh-data"]) == true)
        #expect((agent["mountPoints"] as? [[String: String]])?.first?["containerPath"] == "/mesh")
        #expect((agent["logConfiguration"] as? [String: Any])?["logDriver"] as? String == "awslogs")
        #expect(
            (meshed["tags"] as? [[String: String]])?.contains(["key": MeshTask.serviceNameTag, "value": "http-server"])
                == true
        )
    }

    @Test("refuses what it cannot mesh: no containers, bridge networking, an already meshed task, no port")
    func refusals() throws {
        var bridge = try Self.input()
        bridge["networkMode"] = "bridge"
        #expect(throws: CLIError.self) { try Self.task.apply(to: bridge) }
        #expect(throws: CLIError.self) { try Self.task.apply(to: ["family": "x", "containerDefinitions": []]) }
        let meshed = try Self.task.apply(to: try Self.input())
        #expect(throws: CLIError.self) { try Self.task.apply(to: meshed) }
        let portless: [String: Any] = ["family": "x", "containerDefinitions": [["name": "app", "image": "a"]]]
        #expect(throws: CLIError.self) { try Self.task.apply(to: portless) }
        // describe-task-definition output is accepted: unwrapped, read-only fields dropped.
        var described = try Self.input()
        described["taskDefinitionArn"] = "arn:aws:ecs:us-east-1:123456789012:task-definition/http-server:3"
        described["revision"] = 3
        let unwrapped = try Self.task.apply(to: ["taskDefinition": described])
        #expect(unwrapped["revision"] == nil && unwrapped["family"] as? String == "http-server")
    }

    @Test(
        "ECS (moto) registers the meshed task definition and reads it back with its dependencies",
        .enabled(if: MotoServer.isInstalled, "moto_server is not installed")
    )
    func registers() async throws {
        let meshed = try Self.task.apply(to: try Self.input())
        let body = try JSONDecoder().decode(JSONValue.self, from: JSONSerialization.data(withJSONObject: meshed))
        try await MotoServer.with { moto, httpClient in
            let ecs = ECSClient(
                httpClient: httpClient,
                credentialsProvider: StaticCredentialsProvider(
                    AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s")
                ),
                region: "us-east-1",
                endpoint: moto.endpoint,
                // moto's first ECS call loads its ECS backend: many seconds on a loaded machine.
                timeout: .seconds(60)
            )
            struct Registered: Decodable {
                struct Definition: Decodable {
                    struct Container: Decodable {
                        struct Dependency: Decodable {
                            var containerName: String
                            var condition: String
                        }
                        var name: String
                        var dependsOn: [Dependency]?
                        var essential: Bool?
                    }
                    var taskDefinitionArn: String
                    var containerDefinitions: [Container]
                }
                var taskDefinition: Definition
            }
            let registered = try await ecs.call("RegisterTaskDefinition", body, as: Registered.self)
            struct Describe: Encodable { var taskDefinition: String }
            let read = try await ecs.call(
                "DescribeTaskDefinition",
                Describe(taskDefinition: registered.taskDefinition.taskDefinitionArn),
                as: Registered.self
            )
            let containers = read.taskDefinition.containerDefinitions
            #expect(containers.map(\.name) == ["app", "log-router", "mesh-agent", "mesh-proxy"])
            #expect(containers.first { $0.name == "app" }?.dependsOn?.first?.containerName == "mesh-proxy")
            #expect(containers.first { $0.name == "mesh-proxy" }?.dependsOn?.first?.condition == "HEALTHY")
        }
    }

    @Test(
        "the CloudFormation form passes cfn-lint, with a tagged task role under /consul-ecs/",
        .enabled(if: Spawned.which("cfn-lint") != nil, "cfn-lint is not installed")
    )
    func cloudFormation() throws {
        let task = Self.task
        let template = task.cloudFormation(from: try task.apply(to: try Self.input()))
        let resources = try #require(template["Resources"] as? [String: Any])
        let role = try #require((resources["HttpServerTaskRole"] as? [String: Any])?["Properties"] as? [String: Any])
        #expect(role["Path"] as? String == "/consul-ecs/")
        #expect((role["Tags"] as? [[String: String]])?.first?["Key"] == MeshTask.serviceNameTag)
        let definition = try #require(
            (resources["HttpServerTaskDefinition"] as? [String: Any])?["Properties"] as? [String: Any]
        )
        let containers = try #require(definition["ContainerDefinitions"] as? [[String: Any]])
        let app = try #require(containers.first { $0["Name"] as? String == "app" })
        // Free-form maps keep the user's keys.
        let options = (app["LogConfiguration"] as? [String: Any])?["Options"] as? [String: String]
        #expect(options?["awslogs-group"] == "/ecs/http-server")
        #expect((app["DockerLabels"] as? [String: String])?["com.example.team"] == "payments")

        let path = NSTemporaryDirectory() + "mesh-task-\(UUID().uuidString).json"
        defer { unlink(path) }
        try JSONSerialization.data(withJSONObject: template, options: [.prettyPrinted]).write(
            to: URL(fileURLWithPath: path)
        )
        let lint = try Spawned.capture(try #require(Spawned.which("cfn-lint")), [path])
        #expect(lint.status == 0, "\(lint.output)")
    }
}
