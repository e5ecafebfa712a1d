import ArgumentParser
import Logging
import MeshCore
import MeshProcess

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

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
