import AsyncHTTPClient
import Authz
import Catalog
import ControlPlaneHarness
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import MeshCore
import MeshNet
import MeshProto
import MeshRPC
import MeshServer
import MeshStore
import MeshStoreHost
import MeshTLS
import MeshTesting
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle
import SwiftProtobuf
import Testing

@Suite("transport security")
struct TLSTests {
    /// A dev CA and one certificate per name (each naming it, plus localhost and 127.0.0.1),
    /// written to a temporary directory.
    static func makeFiles(_ names: [String] = ["authz-svc"]) throws -> [String: TLSFiles] {
        let directory = NSTemporaryDirectory() + "mesh-tls-test-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let authority = try DevTLS.makeCA(name: "test CA")
        try authority.certificatePEM.write(toFile: directory + "/ca.pem", atomically: true, encoding: .utf8)
        var all: [String: TLSFiles] = [:]
        for name in names {
            let identity = try DevTLS.issueServerCert(
                ca: authority.certificate,
                caKey: authority.privateKey,
                dnsNames: [name, "localhost"]
            )
            let files = TLSFiles(
                certificatePath: directory + "/\(name).pem",
                keyPath: directory + "/\(name)-key.pem",
                caPath: directory + "/ca.pem"
            )
            try identity.certificatePEM.write(toFile: files.certificatePath, atomically: true, encoding: .utf8)
            try identity.privateKeyPEM.write(toFile: files.keyPath, atomically: true, encoding: .utf8)
            all[name] = files
        }
        return all
    }

    /// Resolves the management token over gRPC at `address`, dialling `service` with `tls`.
    static func resolve(
        at address: HostPort,
        dialing service: ControlPlaneName,
        tls: ClientTLS
    ) async throws -> Mesh_V1_ResolvedToken {
        try await withGRPCClient(
            transport: try HTTP2ClientTransport.Posix.dialing(
                service,
                at: [(host: address.host, port: address.port)],
                tls: tls
            )
        ) { grpcClient in
            var options = CallOptions.defaults
            options.timeout = .seconds(10)
            options.waitForReady = false
            return try await Mesh_V1_ACL.Client(wrapping: grpcClient).resolveToken(
                .with { $0.secretID = managementSecret },
                options: options
            )
        }
    }

    @Test("on ECS the identity comes as PEM text in the environment: written privately, all three or none")
    func pemEnvironment() throws {
        let files = try #require(try Self.makeFiles()["authz-svc"])
        let pem = [
            "MESH_TLS_CERT_PEM": try String(contentsOfFile: files.certificatePath, encoding: .utf8),
            "MESH_TLS_KEY_PEM": try String(contentsOfFile: files.keyPath, encoding: .utf8),
            "MESH_TLS_CA_PEM": try String(contentsOfFile: files.caPath, encoding: .utf8),
        ]
        let resolved = try #require(try TLSFiles.resolve(certificate: nil, key: nil, ca: nil, environment: pem))
        #expect(try String(contentsOfFile: resolved.keyPath, encoding: .utf8) == pem["MESH_TLS_KEY_PEM"])
        let attributes = try FileManager.default.attributesOfItem(atPath: resolved.keyPath)
        #expect(attributes[.posixPermissions] as? Int == 0o600)
        _ = try resolved.httpsConfiguration()
        var partial = pem
        partial["MESH_TLS_CA_PEM"] = nil
        #expect(throws: (any Error).self) {
            try TLSFiles.resolve(certificate: nil, key: nil, ca: nil, environment: partial)
        }
        var garbage = pem
        garbage["MESH_TLS_KEY_PEM"] = "not a key"
        #expect(throws: (any Error).self) {
            try TLSFiles.resolve(certificate: nil, key: nil, ca: nil, environment: garbage)
        }
        #expect(try TLSFiles.resolve(certificate: nil, key: nil, ca: nil, environment: [:]) == nil)
    }

    @Test("with certificates, gRPC is mutual TLS (ACL resolution works across it) and REST is HTTPS")
    func mutualTLS() async throws {
        let all = try Self.makeFiles(["authz-svc", "catalog-svc", "web"])
        let files = try #require(all["authz-svc"])
        let caller = try #require(all["catalog-svc"]).clientTLS
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(tlsConfiguration: try files.httpsClientConfiguration())
        )
        try await withAuthz(tls: files) { authz in
            let http = await authz.server.httpAddress.value
            let grpc = authz.grpc

            var request = HTTPClientRequest(url: "https://\(http)/v1/acl/token/self")
            request.headers.add(name: "X-Consul-Token", value: managementSecret)
            let response = try await client.execute(request, timeout: .seconds(10))
            #expect(response.status.code == 200)

            // A control-plane client with a certificate from the CA resolves tokens, by IP (no SNI
            // may carry an IP: the service's name is sent and checked instead) and by name (as
            // through a load balancer's DNS name).
            for address in [grpc, HostPort(host: "localhost", port: grpc.port)] {
                let resolved = try await Self.resolve(at: address, dialing: .authz, tls: caller)
                #expect(resolved.management, "\(address)")
            }

            // ...one that only trusts the CA but has no certificate of its own is refused.
            let anonymousTLS = HTTP2ClientTransport.Posix.TransportSecurity.tls { config in
                config.trustRoots = .certificates([.file(path: files.caPath, format: .pem)])
                config.serverCertificateVerification = .noHostnameVerification
            }
            await #expect(throws: (any Error).self) {
                try await withGRPCClient(
                    transport: try HTTP2ClientTransport.Posix(
                        target: .ipv4(address: grpc.host, port: grpc.port),
                        transportSecurity: anonymousTLS
                    )
                ) { grpcClient in
                    var options = CallOptions.defaults
                    options.timeout = .seconds(5)
                    options.waitForReady = false
                    _ = try await Mesh_V1_ACL.Client(wrapping: grpcClient).resolveToken(
                        .with { $0.secretID = managementSecret },
                        options: options
                    )
                }
            }

            // A client certificate from the same CA that names no control-plane service is refused.
            let outsider = try #require(all["web"]).clientTLS
            await #expect(throws: (any Error).self) {
                _ = try await Self.resolve(at: grpc, dialing: .authz, tls: outsider)
            }

            // A plain-HTTP request to the HTTPS listener gets no answer.
            var plain = HTTPClientRequest(url: "http://\(http)/ready")
            plain.method = .GET
            await #expect(throws: (any Error).self) {
                _ = try await HTTPClient.shared.execute(plain, timeout: .seconds(5)).body.collect(upTo: 1024)
            }
        }
        try await client.shutdown()
    }

    @Test("a server presenting another service's valid certificate is refused: a fake authz-svc cannot answer")
    func impostorRefused() async throws {
        let all = try Self.makeFiles(["authz-svc", "catalog-svc"])
        // The impostor runs authz-svc's code with catalog-svc's certificate (from the same CA).
        let stolen = try #require(all["catalog-svc"])
        try await withAuthz(tls: stolen) { impostor in
            let grpc = impostor.grpc
            let caller = try #require(all["authz-svc"]).clientTLS
            // Dialled as authz-svc (as catalog-svc's ACL client does), the handshake fails...
            await #expect(throws: (any Error).self) {
                _ = try await Self.resolve(at: grpc, dialing: .authz, tls: caller)
            }
            // ...while the same server dialled for the name it does carry answers: the refusal is the name.
            #expect(try await Self.resolve(at: grpc, dialing: .catalog, tls: caller).management)
        }
    }

    @Test("plaintext gRPC to anything but loopback is refused: the token would travel in clear")
    func plaintextDialRefused() throws {
        #expect(throws: PlaintextDialRefused.self) {
            try PlaintextDialRefused.check(.authz, replicas: [(host: "10.0.0.5", port: 8502)], hasTLS: false)
        }
        #expect(throws: PlaintextDialRefused.self) {
            _ = try HTTP2ClientTransport.Posix.to(
                ServiceAddress(HostPort(host: "authz.internal", port: 8502)),
                service: .authz,
                tls: nil
            )
        }
        #expect(throws: PlaintextDialRefused.self) {
            try PlaintextDialRefused.check(
                .distributor,
                replicas: [(host: "127.0.0.1", port: 8510), (host: "192.168.1.4", port: 8510)],
                hasTLS: false
            )
        }
        for host in ["127.0.0.1", "127.8.0.1", "localhost", "::1"] {
            try PlaintextDialRefused.check(.authz, replicas: [(host: host, port: 8502)], hasTLS: false)
        }
        try PlaintextDialRefused.check(.authz, replicas: [(host: "10.0.0.5", port: 8502)], hasTLS: true)
    }

    @Test("plaintext HTTP or gRPC on a non-loopback address is refused at start; half the TLS files is an error")
    func plaintextRefused() throws {
        func resolve(_ change: (inout HostFlags) -> Void) throws {
            var flags = HostFlags()
            flags.databaseURL = "postgres://u@127.0.0.1:5432/x"
            change(&flags)
            _ = try AuthzConfig.resolve(flags, defaultPolicy: nil, initialManagementToken: nil, environment: [:])
        }
        try resolve { _ in }
        #expect(throws: (any Error).self) { try resolve { $0.httpAddr = "0.0.0.0:8500" } }
        #expect(throws: (any Error).self) { try resolve { $0.grpcAddr = "0.0.0.0:8502" } }
        #expect(throws: (any Error).self) { try resolve { $0.tls = TLSPaths(certificate: "/nonexistent.pem") } }
    }
}
