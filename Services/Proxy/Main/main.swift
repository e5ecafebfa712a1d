import ArgumentParser
import Logging
import MeshCore
import MeshProcess
import Proxy

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// mesh-proxy: the sidecar (public mTLS listener to the local app, local upstream listeners).
@main
struct ProxyCommand: AsyncParsableCommand {

    static let configuration = CommandConfiguration(
        commandName: "mesh-proxy",
        abstract: "The mesh's sidecar proxy: mTLS with SPIFFE identities, intentions, load balancing.",
        subcommands: [
            RunCommand.self, StaticCommand.self, InboundCommand.self, OutboundCommand.self, HealthCommand.self,
        ],
        defaultSubcommand: RunCommand.self
    )
}

/// Flags every mode shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "Admin listener (/ready, /metrics, /config) (env MESH_ADMIN_ADDR, default 127.0.0.1:19000).")
    var adminAddr: String?

    @Option(help: "Event-loop threads (env MESH_PROXY_THREADS, default: one per core).")
    var threads: Int?

    @Option(help: "Connect and TLS handshake timeout for outgoing connections (default 5s).")
    var connectTimeout: String?

    @Option(help: "Drain deadline at SIGTERM (default 30s).")
    var drainDeadline: String?

    @Option(help: "Load balancing: round_robin or least_request (default round_robin).")
    var balancing: String?

    @Option(
        help:
            "Ready mTLS connections kept per tcp upstream endpoint and event loop, up to the number in use (default 32; 0: off)."
    )
    var spareConnections: Int?

    func process(publicBindHost: String?) throws -> ProxyProcess {
        let environment = ProcessInfo.processInfo.environment
        MeshLogging.bootstrap(environment: environment)
        let settings = SettingResolver(environment: environment)
        let admin = try settings.address(
            flag: self.adminAddr,
            flagName: "--admin-addr",
            variable: "MESH_ADMIN_ADDR",
            default: "127.0.0.1:19000"
        )
        var options = ProxyOptions(publicBindHost: publicBindHost)
        options.connectTimeout = try settings.duration(
            flag: self.connectTimeout,
            flagName: "--connect-timeout",
            variable: "MESH_PROXY_CONNECT_TIMEOUT",
            default: options.connectTimeout
        )
        options.drainDeadline = try settings.duration(
            flag: self.drainDeadline,
            flagName: "--drain-deadline",
            variable: "MESH_PROXY_DRAIN_DEADLINE",
            default: options.drainDeadline
        )
        if let text = settings.string(flag: self.balancing, variable: "MESH_PROXY_BALANCING") {
            guard let policy = BalancingPolicy(rawValue: text) else {
                throw ValidationError("--balancing: expected round_robin or least_request, got \"\(text)\"")
            }
            options.balancing = policy
        }
        if let text = settings.string(
            flag: self.spareConnections.map(String.init),
            variable: "MESH_PROXY_SPARE_CONNECTIONS"
        ) {
            guard let count = Int(text), count >= 0 else {
                throw ValidationError("--spare-connections: expected a count of 0 or more, got \"\(text)\"")
            }
            options.spareConnections = count
        }
        let threads =
            self.threads ?? environment["MESH_PROXY_THREADS"].flatMap(Int.init)
            ?? ProcessInfo.processInfo.activeProcessorCount
        return ProxyProcess(options: options, adminHost: admin.host, adminPort: admin.port, threads: threads)
    }
}

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
        let replicas = address.split(separator: ",").map { HostPort(parsing: String($0)) }
        guard let distributor = replicas.first ?? nil, !replicas.contains(where: { $0 == nil }) else {
            throw ValidationError("--distributor-addr: expected host:port[,host:port...], got \"\(address)\"")
        }
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
            otherDistributors: replicas.dropFirst().compactMap { $0.map { (host: $0.host, port: $0.port) } }
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

/// Runs from a bootstrap file alone (no control plane), as Envoy does with a static bootstrap.
struct StaticCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "static",
        abstract: "Run from a static bootstrap file (snapshot + certificate, key and roots files)."
    )

    @Option(help: "The bootstrap JSON file.")
    var bootstrap: String

    @Option(help: "Bind address of the public listener (default 0.0.0.0; `none` for outbound only).")
    var publicBind: String = "0.0.0.0"

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let process = try self.common.process(publicBindHost: self.publicBind == "none" ? nil : self.publicBind)
        let (snapshot, tls) = try StaticBootstrap.load(path: self.bootstrap)
        try await process.run(initial: (snapshot, tls), logger: Logger(label: "mesh-proxy"))
    }
}

/// PKI flags of the one-listener modes.
struct PKIOptions: ParsableArguments {
    @Option(help: "Certificate chain (PEM).")
    var cert: String

    @Option(help: "Private key (PEM).")
    var key: String

    @Option(help: "Trust roots (PEM).")
    var ca: String

    func tls() throws -> ProxyTLS {
        try ProxyTLS(
            certificateChainPEM: String(contentsOfFile: self.cert, encoding: .utf8),
            privateKeyPEM: String(contentsOfFile: self.key, encoding: .utf8),
            rootsPEM: [String(contentsOfFile: self.ca, encoding: .utf8)]
        )
    }
}

/// Only the public listener: mTLS in, intentions, then the app (the inbound half of a sidecar).
struct InboundCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inbound",
        abstract: "Only a public mTLS listener in front of an app (static; for benchmarks and tests)."
    )

    @Option(help: "Public listener address.")
    var listen: String

    @Option(help: "The local app's address.")
    var app: String

    @Option(help: "This proxy's service name.")
    var service: String

    @Option(help: "A source service allowed in (repeatable); every other source is denied.")
    var allow: [String] = []

    @Option(help: "Trust domain peers must belong to.")
    var trustDomain: String

    @Option(help: "The service's protocol: tcp, http, http2 or grpc (as service-defaults sets it).")
    var `protocol`: String = "tcp"

    @OptionGroup var pki: PKIOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        guard let listen = HostPort(parsing: self.listen) else { throw ValidationError("--listen: expected host:port") }
        guard let app = HostPort(parsing: self.app) else { throw ValidationError("--app: expected host:port") }
        try validateProtocol(self.protocol)
        var process = try self.common.process(publicBindHost: listen.host)
        process.options.appHost = app.host
        let snapshot = ProxySnapshot(
            service: self.service,
            publicPort: listen.port,
            localAppPort: app.port,
            protocolName: self.protocol,
            upstreams: [],
            intentions: self.allow.map { Intention(sourceName: $0, destinationName: self.service, action: .allow) },
            defaultAllow: false,
            trustDomain: self.trustDomain,
            rootsPEM: []
        )
        try await process.run(initial: (snapshot, try self.pki.tls()), logger: Logger(label: "mesh-proxy"))
    }
}

/// Only one upstream listener: plain in from the app, mTLS out to the endpoints.
struct OutboundCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbound",
        abstract: "Only one upstream listener to fixed endpoints (static; for benchmarks and tests)."
    )

    @Option(help: "Local listener address (plain traffic from the app).")
    var listen: String

    @Option(help: "An endpoint's public mTLS listener (repeatable).")
    var upstream: [String]

    @Option(help: "The SPIFFE ID every endpoint must present.")
    var expectIdentity: String

    @Option(help: "This proxy's service name.")
    var service: String = "client"

    @Option(help: "The upstream service's protocol: tcp, http, http2 or grpc (as service-defaults sets it).")
    var `protocol`: String = "tcp"

    @OptionGroup var pki: PKIOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        guard let listen = HostPort(parsing: self.listen) else { throw ValidationError("--listen: expected host:port") }
        guard let id = SPIFFEID(uri: self.expectIdentity) else {
            throw ValidationError("--expect-identity: not a SPIFFE service ID")
        }
        try validateProtocol(self.protocol)
        let endpoints = try self.upstream.map { text in
            guard let address = HostPort(parsing: text) else { throw ValidationError("--upstream: expected host:port") }
            return ProxyEndpoint(address: address.host, port: address.port, node: "static", instanceID: text)
        }
        var process = try self.common.process(publicBindHost: nil)
        process.options.upstreamBindHost = listen.host
        let snapshot = ProxySnapshot(
            service: self.service,
            publicPort: 0,
            localAppPort: 0,
            protocolName: "tcp",
            upstreams: [
                ProxyUpstream(
                    service: id.service,
                    localPort: listen.port,
                    protocolName: self.protocol,
                    endpoints: endpoints,
                    expectedIdentity: id.uri
                )
            ],
            intentions: [],
            defaultAllow: false,
            trustDomain: id.trustDomain,
            rootsPEM: []
        )
        try await process.run(initial: (snapshot, try self.pki.tls()), logger: Logger(label: "mesh-proxy"))
    }
}

/// The protocols a service can be declared with (Consul's service-defaults `Protocol`).
func validateProtocol(_ name: String) throws {
    guard ["tcp", "http", "http2", "grpc"].contains(name) else {
        throw ValidationError("--protocol: expected tcp, http, http2 or grpc")
    }
}
