public import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Where the Consul-compatible API is: `-http-addr`, else `CONSUL_HTTP_ADDR`/`MESH_HTTP_ADDR`, else 127.0.0.1:8500.
struct APIOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("http-addr", withSingleDash: true), help: "Address of the mesh REST API.")
    var httpAddr: String?

    @Option(name: .customLong("token", withSingleDash: true), help: "ACL token (env CONSUL_HTTP_TOKEN).")
    var token: String?

    var baseURL: String {
        let environment = ProcessInfo.processInfo.environment
        var address =
            self.httpAddr ?? environment["CONSUL_HTTP_ADDR"] ?? environment["MESH_HTTP_ADDR"] ?? "127.0.0.1:8500"
        if !address.hasPrefix("http://") && !address.hasPrefix("https://") { address = "http://" + address }
        return address
    }

    /// Sends a request and returns the body; a non-2xx answer becomes a one-line error.
    func call(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> Data {
        let answer = try await self.exchange(method, path, body: body)
        guard (200..<300).contains(answer.status) else { throw answer.error }
        return answer.body
    }

    /// An answer of the API, whatever its status.
    struct Answer {
        var status: UInt
        var headers: HTTPHeaders
        var body: Data

        var index: String? { self.headers.first(name: "X-Consul-Index") }
        var text: String { String(decoding: self.body, as: UTF8.self) }
        /// Consul's CLI wording for a refusal.
        var error: CLIError {
            CLIError(
                "Unexpected response code: \(self.status) (\(self.text.trimmingCharacters(in: .whitespacesAndNewlines)))"
            )
        }
    }

    /// Sends a request (JSON unless `contentType` says otherwise) and returns the answer as it is.
    func exchange(
        _ method: HTTPMethod,
        _ path: String,
        body: Data? = nil,
        contentType: String = "application/json",
        timeout: TimeAmount = .seconds(10)
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: self.baseURL + path)
        request.method = method
        if let token = self.token ?? ProcessInfo.processInfo.environment["CONSUL_HTTP_TOKEN"] {
            request.headers.add(name: "X-Consul-Token", value: token)
        }
        if let body {
            request.body = .bytes(ByteBuffer(data: body))
            request.headers.add(name: "Content-Type", value: contentType)
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: timeout)
        } catch {
            throw CLIError("cannot reach \(self.baseURL): \(error)")
        }
        let buffer = try await response.body.collect(upTo: 64 << 20)
        return Answer(status: response.status.code, headers: response.headers, body: Data(buffer: buffer))
    }
}

/// `meshctl catalog ...`: read the catalog, like `consul catalog`.
public struct CatalogCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Read the service catalog.",
        subcommands: [Services.self, Nodes.self]
    )

    public init() {}

    struct Services: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List services (with -tags, their tags).")
        @OptionGroup var api: APIOptions
        @Flag(name: .customLong("tags", withSingleDash: true), help: "Show each service's tags.") var tags = false

        func run() async throws {
            let data = try await self.api.call(.GET, "/v1/catalog/services")
            let services = try JSONDecoder().decode([String: [String]].self, from: data)
            for name in services.keys.sorted() {
                print(self.tags ? "\(name)\t\(services[name]!.joined(separator: ","))" : name)  // key from keys
            }
        }
    }

    struct Nodes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List nodes.")
        @OptionGroup var api: APIOptions

        struct Node: Decodable {
            var Node: String
            var ID: String
            var Address: String
            var Datacenter: String
        }

        func run() async throws {
            let data = try await self.api.call(.GET, "/v1/catalog/nodes")
            let nodes = try JSONDecoder().decode([Node].self, from: data)
            print("Node\tID\tAddress\tDC")
            for node in nodes { print("\(node.Node)\t\(node.ID)\t\(node.Address)\t\(node.Datacenter)") }
        }
    }
}

/// `meshctl services register|deregister`, like `consul services`. Without a local agent the
/// instance goes straight into the catalog, on the node named by `-node` (default: this host).
public struct ServicesCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "services",
        abstract: "Register or deregister service instances.",
        subcommands: [Register.self, Deregister.self]
    )

    public init() {}

    static var defaultNode: String { ProcessInfo.processInfo.hostName }

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a service instance.")
        @OptionGroup var api: APIOptions
        @Option(name: .customLong("name", withSingleDash: true), help: "Service name.") var name: String
        @Option(name: .customLong("id", withSingleDash: true), help: "Instance ID (default: the name).") var id: String?
        @Option(name: .customLong("address", withSingleDash: true), help: "Instance address.") var address = ""
        @Option(name: .customLong("port", withSingleDash: true), help: "Instance port.") var port = 0
        @Option(name: .customLong("tag", withSingleDash: true), help: "A tag (repeatable).") var tags: [String] = []
        @Option(name: .customLong("meta", withSingleDash: true), help: "key=value metadata (repeatable).")
        var meta: [String] = []
        @Option(name: .customLong("node", withSingleDash: true), help: "Node to register on.") var node: String?
        @Option(name: .customLong("node-address", withSingleDash: true), help: "The node's address.")
        var nodeAddress = "127.0.0.1"

        func run() async throws {
            var metadata: [String: String] = [:]
            for pair in self.meta {
                guard let equals = pair.firstIndex(of: "=") else {
                    throw CLIError("-meta: expected key=value, got \"\(pair)\"")
                }
                metadata[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            let body: [String: Any] = [
                "Node": self.node ?? ServicesCommand.defaultNode,
                "Address": self.nodeAddress,
                "Service": [
                    "Service": self.name, "ID": self.id ?? self.name, "Address": self.address, "Port": self.port,
                    "Tags": self.tags, "Meta": metadata,
                ] as [String: Any],
            ]
            _ = try await self.api.call(
                .PUT,
                "/v1/catalog/register",
                body: try JSONSerialization.data(withJSONObject: body)
            )
            print("Registered service: \(self.name)")
        }
    }

    struct Deregister: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deregister a service instance.")
        @OptionGroup var api: APIOptions
        @Option(name: .customLong("id", withSingleDash: true), help: "Instance ID.") var id: String
        @Option(name: .customLong("node", withSingleDash: true), help: "Node of the instance.") var node: String?

        func run() async throws {
            let body: [String: Any] = ["Node": self.node ?? ServicesCommand.defaultNode, "ServiceID": self.id]
            _ = try await self.api.call(
                .PUT,
                "/v1/catalog/deregister",
                body: try JSONSerialization.data(withJSONObject: body)
            )
            print("Deregistered service: \(self.id)")
        }
    }
}

/// The `meshctl` root command.
public struct MeshCTL: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "meshctl",
        abstract: "Operate the Swift service mesh.",
        subcommands: [
            DevCommand.self, CatalogCommand.self, ServicesCommand.self, KVCommand.self, LockCommand.self,
            IntentionCommand.self, LoginCommand.self,
            LogoutCommand.self, ECSCommand.self, DemoCommand.self, TLSCommand.self,
        ]
    )

    public init() {}
}
