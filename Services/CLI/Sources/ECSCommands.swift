import ArgumentParser
import Foundation
import MeshNet
import MeshRPC

/// `meshctl ecs ...`: helpers for running the mesh on AWS ECS.
struct ECSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ecs",
        abstract: "Run the mesh on AWS ECS.",
        subcommands: [MeshTaskCommand.self]
    )

    /// `meshctl ecs mesh-task`: consul-ecs's mesh-task module for a task definition JSON.
    struct MeshTaskCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mesh-task",
            abstract: "Add mesh-agent and mesh-proxy to an application's task definition."
        )

        @Option(
            name: .customLong("in"),
            help: "The application's task definition JSON (or describe-task-definition output)."
        )
        var input: String

        @Option(name: .customLong("out"), help: "Where to write the result (default: standard output).")
        var output: String?

        @Option(name: .customLong("service"), help: "The service name the task registers as.")
        var service: String

        @Option(name: .customLong("port"), help: "The application's port (default: its first containerPort).")
        var port: Int?

        @Option(name: .customLong("upstreams"), help: "Comma-separated name:localPort upstreams, e.g. api:1234.")
        var upstreams: String = ""

        @Option(name: .customLong("mesh-addr"), help: "The control plane's REST address the task reaches.")
        var meshAddress: String

        @Option(
            name: .customLong("distributor-addr"),
            help: "The config-distributor's gRPC address (the control plane's internal gRPC balancer, port 8510)."
        )
        var distributorAddress: String

        @Option(
            name: .customLong("distributor-ca-file"),
            help: "The control plane's CA (PEM file), put in the proxy's environment for TLS to the distributor."
        )
        var distributorCAFile: String?

        @Option(name: .customLong("auth-method"), help: "The aws-iam auth method (default iam-ecs-service-token).")
        var authMethod: String = "iam-ecs-service-token"

        @Option(name: .customLong("server-id-header-value"), help: "The auth method's ServerIDHeaderValue, if any.")
        var serverIDHeaderValue: String?

        @Option(name: .customLong("image-repository"), help: "Registry path of the mesh images.")
        var imageRepository: String = "public.ecr.aws/swift-mesh"

        @Option(name: .customLong("image-tag"), help: "Tag of the mesh images.")
        var imageTag: String = "latest"

        @Option(name: .customLong("format"), help: "json (register-task-definition input) or cloudformation.")
        var format: String = "json"

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: self.input),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else {
                throw CLIError("cannot read a JSON task definition from \(self.input)")
            }
            var upstreams: [(name: String, localPort: Int)] = []
            for item in self.upstreams.split(separator: ",") {
                let parts = item.split(separator: ":")
                guard parts.count == 2, let port = Int(parts[1]), (1...65535).contains(port) else {
                    throw CLIError("--upstreams \(item): expected name:localPort")
                }
                upstreams.append((String(parts[0]), port))
            }
            var task = MeshTask(
                service: self.service,
                port: self.port,
                upstreams: upstreams,
                meshAddress: self.meshAddress,
                distributorAddress: self.distributorAddress,
                imageRepository: self.imageRepository,
                imageTag: self.imageTag
            )
            task.authMethod = self.authMethod
            if let path = self.distributorCAFile {
                guard let pem = try? String(contentsOfFile: path, encoding: .utf8), pem.contains("BEGIN CERTIFICATE")
                else {
                    throw CLIError("--distributor-ca-file: \(path) is not a PEM certificate")
                }
                task.distributorCAPEM = pem
            }
            // The proxy and the agent refuse plaintext gRPC outside loopback (the token would travel in clear).
            let loopback = HostPort(parsing: self.distributorAddress).map { GRPCTarget.isLoopback($0.host) } ?? false
            if task.distributorCAPEM == nil, !loopback {
                throw CLIError("--distributor-ca-file is required: the proxy refuses plaintext gRPC outside loopback")
            }
            task.serverIDHeaderValue = self.serverIDHeaderValue
            let meshed = try task.apply(to: object)
            let result: [String: Any]
            switch self.format {
            case "json":
                result = meshed
                FileHandle.standardError.write(
                    Data(
                        ("note: the task role must be under /consul-ecs/, tagged \(MeshTask.serviceNameTag)="
                            + "\(self.service) and allowed iam:GetRole (--format cloudformation makes it)\n").utf8
                    )
                )
            case "cloudformation": result = task.cloudFormation(from: meshed)
            default: throw CLIError("--format \(self.format): expected json or cloudformation")
            }
            let text = try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
            if let output = self.output {
                guard FileManager.default.createFile(atPath: output, contents: text + Data("\n".utf8)) else {
                    throw CLIError("cannot write \(output)")
                }
            } else {
                print(String(decoding: text, as: UTF8.self))
            }
        }
    }
}
