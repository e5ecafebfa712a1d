import CA
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import MeshCore
import MeshProto
import MeshRPC
import MeshStore
import MeshStoreHost
import MeshTLS
import MeshTesting
import Testing

@Suite("ca-svc")
struct CATests {
    @Test("a leaf for web verifies against the active root with openssl and carries the SPIFFE ID")
    func leafVerifies() async throws {
        try await withCluster { cluster in
            let roots = try await cluster.ca.get("/v1/connect/ca/roots")
            #expect(roots.status == 200)
            let trustDomain = try #require(roots.object["TrustDomain"] as? String)
            #expect(trustDomain.hasSuffix(".consul"))
            let rootList = try #require(roots.object["Roots"] as? [[String: Any]])
            #expect(rootList.count == 1)
            #expect(roots.object["ActiveRootID"] as? String == rootList.first?["ID"] as? String)
            #expect((rootList.first?["ID"] as? String)?.split(separator: ":").count == 20)
            #expect(rootList.first?["SerialNumber"] is NSNumber)
            let rootPEM = try #require(rootList.first?["RootCert"] as? String)

            let token = try await cluster.authz.put(
                "/v1/acl/token",
                json: ["ServiceIdentities": [["ServiceName": "web"]]]
            )
            let secret = try #require(token.object["SecretID"] as? String)
            let uri = "spiffe://\(trustDomain)/ns/default/dc/dc1/svc/web"
            let (_, csr) = try KeyAndCSR.makeCSR(spiffeURI: uri)
            let leaf = try await sign(csr, token: secret, at: cluster.caGRPC)
            #expect(leaf.spiffeID == uri)

            let rootFile = try temporaryFile(rootPEM)
            let leafFile = try temporaryFile(leaf.certificatePem)
            defer {
                unlink(rootFile)
                unlink(leafFile)
            }
            let verify = try await openssl(["verify", "-CAfile", rootFile, leafFile])
            #expect(verify.status == 0, "\(verify.output)")
            let text = try await openssl(["x509", "-noout", "-text", "-in", leafFile])
            #expect(text.output.contains("URI:\(uri)"))
            #expect(leaf.validBeforeUnix - leaf.validAfterUnix >= 72 * 3600)
        }
    }

    @Test("a CSR for a service the token cannot write is refused; so is a bad CSR and no token")
    func refusals() async throws {
        try await withCluster { cluster in
            let roots = try await cluster.ca.get("/v1/connect/ca/roots")
            let trustDomain = try #require(roots.object["TrustDomain"] as? String)
            let token = try await cluster.authz.put(
                "/v1/acl/token",
                json: ["ServiceIdentities": [["ServiceName": "web"]]]
            )
            let secret = try #require(token.object["SecretID"] as? String)
            let (_, dbCSR) = try KeyAndCSR.makeCSR(spiffeURI: "spiffe://\(trustDomain)/ns/default/dc/dc1/svc/db")
            await #expect(throws: RPCError.self) { _ = try await sign(dbCSR, token: secret, at: cluster.caGRPC) }
            do {
                _ = try await sign(dbCSR, token: secret, at: cluster.caGRPC)
            } catch let error as RPCError {
                #expect(error.code == .permissionDenied)
                #expect(error.message.contains("service:write"))
            }
            do {
                _ = try await sign(dbCSR, token: nil, at: cluster.caGRPC)
                Issue.record("anonymous signing succeeded")
            } catch let error as RPCError {
                #expect(error.code == .permissionDenied)
            }
            let (_, otherDomain) = try KeyAndCSR.makeCSR(spiffeURI: "spiffe://other.consul/ns/default/dc/dc1/svc/web")
            do {
                _ = try await sign(otherDomain, token: secret, at: cluster.caGRPC)
                Issue.record("a CSR for another trust domain was signed")
            } catch let error as RPCError {
                #expect(error.code == .invalidArgument)
            }
        }
    }

    @Test("after a root rotation old leaves still verify, and new leaves verify through the cross-signed root")
    func rotation() async throws {
        try await withCluster { cluster in
            let before = try await cluster.ca.get("/v1/connect/ca/roots")
            let trustDomain = try #require(before.object["TrustDomain"] as? String)
            let oldRoot = try #require((before.object["Roots"] as? [[String: Any]])?.first?["RootCert"] as? String)
            let uri = "spiffe://\(trustDomain)/ns/default/dc/dc1/svc/web"
            let (_, csr) = try KeyAndCSR.makeCSR(spiffeURI: uri)
            let oldLeaf = try await sign(csr, token: managementSecret, at: cluster.caGRPC)

            let denied = try await cluster.ca.put(
                "/v1/connect/ca/configuration",
                json: ["Config": ["ForceRootRotation": true]]
            )
            #expect(denied.status == 403)
            let rotated = try await cluster.ca.with(token: managementSecret).put(
                "/v1/connect/ca/configuration",
                json: ["Provider": "consul", "Config": ["LeafCertTTL": "72h", "ForceRootRotation": true]]
            )
            #expect(rotated.status == 200, "\(rotated.text)")

            let after = try await cluster.ca.get("/v1/connect/ca/roots")
            let roots = try #require(after.object["Roots"] as? [[String: Any]])
            #expect(roots.count == 2)
            let active = try #require(roots.first { $0["Active"] as? Bool == true })
            #expect(after.object["ActiveRootID"] as? String == active["ID"] as? String)
            #expect(active["RootCert"] as? String != oldRoot)
            let cross = try #require((active["IntermediateCerts"] as? [String])?.first)

            let newLeaf = try await sign(csr, token: managementSecret, at: cluster.caGRPC)
            #expect(newLeaf.chainPem.contains("BEGIN CERTIFICATE"))
            let files = try [oldRoot, cross, newLeaf.certificatePem, oldLeaf.certificatePem].map(temporaryFile)
            defer { files.forEach { unlink($0) } }
            let throughCross = try await openssl(["verify", "-CAfile", files[0], "-untrusted", files[1], files[2]])
            #expect(throughCross.status == 0, "\(throughCross.output)")
            let withoutCross = try await openssl(["verify", "-CAfile", files[0], files[2]])
            #expect(withoutCross.status != 0)
            let old = try await openssl(["verify", "-CAfile", files[0], files[3]])
            #expect(old.status == 0, "\(old.output)")
        }
    }

    static var hostFlags: HostFlags {
        var flags = HostFlags()
        flags.databaseURL = "postgres://u@127.0.0.1:5432/x"
        return flags
    }

    @Test("without a key-encryption key, or with a malformed one, ca-svc refuses to start with a clear message")
    func keyEncryptionKey() throws {
        #expect(throws: (any Error).self) {
            _ = try CAConfig.resolve(
                Self.hostFlags,
                kekFile: nil,
                authzAddr: nil,
                datacenter: nil,
                maxLeafTTL: nil,
                csrRate: nil,
                environment: [:]
            )
        }
        do {
            _ = try CAConfig.resolve(
                Self.hostFlags,
                kekFile: nil,
                authzAddr: nil,
                datacenter: nil,
                maxLeafTTL: nil,
                csrRate: nil,
                environment: ["MESH_CA_KEK": "c2hvcnQ="]
            )
            Issue.record("a 5-byte key was accepted")
        } catch {
            #expect("\(error)".contains("32 bytes"))
        }
    }

    @Test("a replica given another key-encryption key cannot open the root key and does not start")
    func wrongKey() async throws {
        try await withCluster { cluster in
            var host = HostSettings.loopback(name: "ca-svc", database: cluster.database)
            host.drainTimeout = .seconds(1)
            let config = CAConfig(host: host, kek: .generate())
            let other = try CAServer(config: config, logger: testLogger)
            do {
                try await withRunning([other.postgres, other], logger: testLogger, ready: { await other.ready.value }) {
                }
                Issue.record("a replica with the wrong key started")
            } catch {
                // Refused at start: the sealed root key does not open with this key.
            }
        }
    }
}

@Suite("ca-svc roots watch (gRPC)")
struct RootsWatchTests {
    @Test("the stream sends the roots, then both roots after a rotation")
    func rootsWatch() async throws {
        try await withCluster { cluster in
            try await withGRPCClient(
                transport: try HTTP2ClientTransport.Posix(
                    target: .ipv4(address: cluster.caGRPC.host, port: cluster.caGRPC.port),
                    transportSecurity: .plaintext
                )
            ) { client in
                let states = try await Mesh_V1_CA.Client(wrapping: client).watchRoots(.init()) { response in
                    var received: [Mesh_V1_CARoots] = []
                    for try await roots in response.messages {
                        received.append(roots)
                        if received.count == 1 {
                            let rotated = try await cluster.ca.with(token: managementSecret).put(
                                "/v1/connect/ca/configuration",
                                json: ["Config": ["ForceRootRotation": true]]
                            )
                            #expect(rotated.status == 200)
                        } else if roots.roots.count == 2 {
                            return received
                        }
                    }
                    return received
                }
                let first = try #require(states.first)
                let last = try #require(states.last)
                #expect(first.roots.count == 1)
                #expect(last.roots.count == 2)
                #expect(last.activeRootID != first.activeRootID)
                #expect(last.trustDomain == first.trustDomain)
                #expect(last.roots.first { $0.active }?.intermediateCertPems.count == 1)
            }
        }
    }
}
