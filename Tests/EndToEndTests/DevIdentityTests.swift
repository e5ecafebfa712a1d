import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import MeshNet
import MeshProto
import MeshRPC
import MeshTLS
import MeshTesting
import NIOHTTP1
import SwiftProtobuf
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The identity issue's end-to-end checks, through real processes: `meshctl dev` (PostgreSQL,
/// authz-svc, catalog-svc, ca-svc, all on TLS) driven over its REST address and ca-svc's gRPC.
extension DevTests {
    @Suite("meshctl dev: identity and authorization end to end")
    struct Identity {
        struct Dev {
            let process: Spawned
            let api: TestAPI
            let caGRPC: HostPort
            let tlsDirectory: String
        }

        /// Starts `meshctl dev` with a known management token and reads its addresses from its output.
        static func withDev(token: String, _ body: (Dev) async throws -> Void) async throws {
            try await RunningDev.with(token: token) { dev in
                let lines = dev.output.split(separator: "\n")
                let caLine = try #require(lines.first { $0.contains("ca-svc ready") })
                let grpcText = try #require(caLine.split(separator: "grpc ").last?.dropLast())
                let caLinePath = try #require(lines.first { $0.contains("dev CA ") })
                let caPath = try #require(caLinePath.split(separator: "dev CA ").last?.dropLast())
                try await body(
                    Dev(
                        process: dev.process,
                        api: dev.api,
                        caGRPC: try #require(HostPort(parsing: String(grpcText))),
                        tlsDirectory: URL(fileURLWithPath: String(caPath)).deletingLastPathComponent().path
                    )
                )
            }
        }

        /// Signs over mutual TLS with config-distributor's certificate, as the distributor would,
        /// checking that the peer's certificate names ca-svc.
        static func sign(_ csr: String, token: String, dev: Dev) async throws -> Mesh_V1_SignResponse {
            let directory = dev.tlsDirectory
            return try await withGRPCClient(
                transport: try HTTP2ClientTransport.Posix.dialing(
                    .ca,
                    at: [(host: dev.caGRPC.host, port: dev.caGRPC.port)],
                    tls: .mutual(
                        certificatePath: directory + "/config-distributor.pem",
                        keyPath: directory + "/config-distributor-key.pem",
                        caPath: directory + "/ca.pem"
                    )
                )
            ) { client in
                var metadata: Metadata = [:]
                metadata.addString(token, forKey: "x-consul-token")
                return try await Mesh_V1_CA.Client(wrapping: client).sign(.with { $0.csrPem = csr }, metadata: metadata)
            }
        }

        static func openssl(_ arguments: [String]) async throws -> Int32 {
            try await Spawned.launch("/usr/bin/openssl", arguments).waitForExit()
        }

        static func file(_ text: String) throws -> String {
            let path = NSTemporaryDirectory() + "dev-identity-\(UInt32.random(in: 0...UInt32.max)).pem"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        @Test(
            "service identity, leaves with openssl verify, rotation with cross-signing, deleted token refused everywhere"
        )
        func identity() async throws {
            let management = UUID().uuidString.lowercased()
            try await Self.withDev(token: management) { dev in
                let admin = dev.api.with(token: management)
                let created = try await admin.put(
                    "/v1/acl/token",
                    json: ["ServiceIdentities": [["ServiceName": "web"]]]
                )
                let secret = try #require(created.object["SecretID"] as? String)
                let accessor = try #require(created.object["AccessorID"] as? String)
                let web = dev.api.with(token: secret)

                // A service-identity token may register its own service and not another.
                #expect(
                    try await admin.put("/v1/catalog/register", json: ["Node": "task-1", "Address": "10.0.0.1"]).status
                        == 200
                )
                let own = try await web.put(
                    "/v1/catalog/register",
                    json: ["Node": "task-1", "Address": "10.0.0.1", "Service": ["Service": "web", "Port": 8080]]
                )
                #expect(own.status == 200)
                let other = try await web.put(
                    "/v1/catalog/register",
                    json: ["Node": "task-1", "Address": "10.0.0.1", "Service": ["Service": "db", "Port": 5432]]
                )
                #expect(other.status == 403)

                // A leaf for web verifies against the active root and carries the SPIFFE ID.
                let roots = try await dev.api.get("/v1/connect/ca/roots")
                let trustDomain = try #require(roots.object["TrustDomain"] as? String)
                let oldRoot = try #require((roots.object["Roots"] as? [[String: Any]])?.first?["RootCert"] as? String)
                let uri = "spiffe://\(trustDomain)/ns/default/dc/dc1/svc/web"
                let (_, csr) = try KeyAndCSR.makeCSR(spiffeURI: uri)
                let oldLeaf = try await Self.sign(csr, token: secret, dev: dev)
                #expect(oldLeaf.spiffeID == uri)
                let oldRootFile = try Self.file(oldRoot)
                let oldLeafFile = try Self.file(oldLeaf.certificatePem)
                #expect(try await Self.openssl(["verify", "-CAfile", oldRootFile, oldLeafFile]) == 0)

                // A CSR for a service the token cannot write is refused.
                let (_, dbCSR) = try KeyAndCSR.makeCSR(spiffeURI: "spiffe://\(trustDomain)/ns/default/dc/dc1/svc/db")
                do {
                    _ = try await Self.sign(dbCSR, token: secret, dev: dev)
                    Issue.record("a CSR for db was signed with web's token")
                } catch let error as RPCError {
                    #expect(error.code == .permissionDenied)
                }

                // Rotation: old leaves still verify; a new leaf verifies with only the old root + cross-signed cert.
                let rotated = try await admin.put(
                    "/v1/connect/ca/configuration",
                    json: ["Provider": "consul", "Config": ["ForceRootRotation": true]]
                )
                #expect(rotated.status == 200)
                let after = try await dev.api.get("/v1/connect/ca/roots")
                let active = try #require(
                    (after.object["Roots"] as? [[String: Any]])?.first { $0["Active"] as? Bool == true }
                )
                let cross = try #require((active["IntermediateCerts"] as? [String])?.first)
                let newLeaf = try await Self.sign(csr, token: secret, dev: dev)
                let crossFile = try Self.file(cross)
                let newLeafFile = try Self.file(newLeaf.certificatePem)
                defer { for path in [oldRootFile, oldLeafFile, crossFile, newLeafFile] { unlink(path) } }
                #expect(
                    try await Self.openssl(["verify", "-CAfile", oldRootFile, "-untrusted", crossFile, newLeafFile])
                        == 0
                )
                #expect(try await Self.openssl(["verify", "-CAfile", oldRootFile, oldLeafFile]) == 0)

                // A deleted token is refused by every service.
                #expect(try await admin.delete("/v1/acl/token/\(accessor)").status == 200)
                let deadline = ContinuousClock.now + .seconds(10)
                while true {
                    let catalog = try await web.get("/v1/catalog/services").status
                    let authz = try await web.get("/v1/acl/token/self").status
                    var ca: RPCError.Code?
                    do {
                        _ = try await Self.sign(csr, token: secret, dev: dev)
                    } catch let error as RPCError {
                        ca = error.code
                    }
                    if catalog == 403 && authz == 403 && ca == .permissionDenied { break }
                    guard ContinuousClock.now < deadline else {
                        Issue.record(
                            "deleted token still accepted: catalog \(catalog), authz \(authz), ca \(ca.map { "\($0)" } ?? "signed")"
                        )
                        break
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
        }
    }
}
