import ArgumentParser
import Logging
import MeshCore
import MeshProcess

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Dynamic mode: config and leaf from the config-distributor (what `mesh-agent init` sets up).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run as a sidecar fed by the config-distributor (dynamic mode; the default)."
    )

    @Option(help: "The bootstrap file mesh-agent init wrote (env MESH_PROXY_BOOTSTRAP); flags override it.")
    var bootstrap: String?

    @Option(help: "config-distributor gRPC address (env MESH_DISTRIBUTOR_ADDR).")
    var distributorAddr: String?

    @Option(help: "PEM CA of the distributor's TLS certificate (env MESH_DISTRIBUTOR_CA_FILE; none: plaintext).")
    var distributorCAFile: String?

    @Option(help: "This proxy's catalog service ID (env MESH_PROXY_ID).")
    var proxyID: String?

    @Option(help: "The service this proxy fronts (env MESH_SERVICE).")
    var service: String?

    @Option(help: "File holding the proxy's ACL token (env MESH_TOKEN_FILE; else MESH_ACL_TOKEN).")
    var tokenFile: String?

    @Option(help: "Datacenter of the proxy's identity (env MESH_DATACENTER, default dc1).")
    var datacenter: String?

    @Option(help: "Bind address of the public listener (env MESH_PUBLIC_BIND, default 0.0.0.0).")
    var publicBind: String?

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let settings = SettingResolver(environment: environment)
        var file = DynamicBootstrap()
        if let path = settings.string(flag: self.bootstrap, variable: "MESH_PROXY_BOOTSTRAP") {
            file = try DynamicBootstrap.load(path: path)
        }
        func required(_ flag: String?, _ variable: String, _ fromFile: String?, _ name: String) throws -> String {
            guard let value = settings.string(flag: flag, variable: variable) ?? fromFile, !value.isEmpty else {
                throw ValidationError("\(name) / \(variable) is required (or give --bootstrap)")
            }
            return value
        }
        let address = try required(
            self.distributorAddr,
            "MESH_DISTRIBUTOR_ADDR",
            file.distributorAddr,
            "--distributor-addr"
        )
        // One address (a balancer's), or the replicas' addresses separated by commas.
        guard let replicas = ServiceAddress(parsing: address) else {
            throw ValidationError("--distributor-addr: expected host:port[,host:port...], got \"\(address)\"")
        }
        let distributor = replicas.first
        let token: String
        if let path = settings.string(flag: self.tokenFile, variable: "MESH_TOKEN_FILE") ?? file.tokenFile {
            token = try String(contentsOfFile: path, encoding: .utf8).filter { !$0.isWhitespace }
        } else {
            token = environment["MESH_ACL_TOKEN"] ?? ""
        }
        let caFile =
            settings.string(flag: self.distributorCAFile, variable: "MESH_DISTRIBUTOR_CA_FILE")
            ?? file.distributorCAFile
        let dynamic = DynamicSettings(
            distributorHost: distributor.host,
            distributorPort: distributor.port,
            proxyID: try required(self.proxyID, "MESH_PROXY_ID", file.proxyID, "--proxy-id"),
            service: try required(self.service, "MESH_SERVICE", file.service, "--service"),
            token: token,
            datacenter: settings.string(flag: self.datacenter, variable: "MESH_DATACENTER") ?? file.datacenter ?? "dc1",
            distributorCAPEM: try caFile.map { try String(contentsOfFile: $0, encoding: .utf8) }
                ?? environment["MESH_DISTRIBUTOR_CA_PEM"].flatMap { $0.isEmpty ? nil : $0 },
            otherDistributors: Array(replicas.pairs.dropFirst())
        )
        var common = self.common
        if common.adminAddr == nil { common.adminAddr = file.adminAddr }
        let process = try common.process(
            publicBindHost: settings.string(flag: self.publicBind, variable: "MESH_PUBLIC_BIND") ?? "0.0.0.0"
        )
        let logger = Logger(label: "mesh-proxy")
        let client = try DistributorClient(settings: dynamic, logger: logger)
        try await process.run(initial: nil, logger: logger) { runtime in await client.run(runtime: runtime) }
    }
}

/// The container health check: exit 0 when the admin listener's `/ready` answers 200.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Exit 0 if the local proxy is ready (for container health checks)."
    )

    @Option(help: "The proxy's admin listener (env MESH_ADMIN_ADDR, default 127.0.0.1:19000).")
    var adminAddr: String?

    func run() async throws {
        let settings = SettingResolver(environment: ProcessInfo.processInfo.environment)
        let admin = try settings.address(
            flag: self.adminAddr,
            flagName: "--admin-addr",
            variable: "MESH_ADMIN_ADDR",
            default: "127.0.0.1:19000"
        )
        guard await AdminServer.isReady(host: admin.host, port: admin.port) else {
            throw ExitCode(1)
        }
    }
}
