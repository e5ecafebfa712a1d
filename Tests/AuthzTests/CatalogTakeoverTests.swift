import ControlPlaneHarness
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import MeshProto
import MeshRPC
import MeshTesting
import SwiftProtobuf
import Testing

/// Registrations over gRPC tried as a tenant with only its own service identity would: another
/// service's instance ID, another service's check ID, node fields, malformed bodies. Each must be
/// refused and leave the catalog as it was (the REST forms are in Tests/consul-compat/test_security.py).
@Suite("catalog-svc refuses takeovers over gRPC")
struct CatalogTakeoverTests {
    @Test(
        "a web token cannot overwrite db's instance or check, change the node, or store a malformed proxy; its own instance registers"
    )
    func takeover() async throws {
        try await withAuthz { authz in
            let token = try await authz.admin.put(
                "/v1/acl/token",
                json: ["ServiceIdentities": [["ServiceName": "web"]]]
            )
            let secret = try #require(token.object["SecretID"] as? String)
            try await withCatalogAndGRPC(enforcedBy: authz) { rest, grpc in
                let admin = rest.with(token: managementSecret)
                let seeded = try await admin.put(
                    "/v1/catalog/register",
                    json: [
                        "Node": "cluster", "Address": "10.0.0.1",
                        "Service": ["Service": "db", "ID": "db-1", "Port": 5432],
                        "Check": ["CheckID": "db-1-alive", "Name": "db", "ServiceID": "db-1", "Status": "passing"],
                    ]
                )
                #expect(seeded.status == 200)
                func state() async throws -> String {
                    let node = try await admin.get("/v1/catalog/node/cluster").text
                    let checks = try await admin.get("/v1/health/node/cluster").text
                    return node + checks
                }
                let before = try await state()
                try await withGRPCClient(
                    transport: try HTTP2ClientTransport.Posix(
                        target: .ipv4(address: grpc.host, port: grpc.port),
                        transportSecurity: .plaintext
                    )
                ) { client in
                    let catalog = Mesh_V1_Catalog.Client(wrapping: client)
                    var metadata: Metadata = [:]
                    metadata.addString(secret, forKey: "x-consul-token")
                    func register(_ change: (inout Mesh_V1_RegisterRequest) -> Void) async -> RPCError? {
                        var request = Mesh_V1_RegisterRequest()
                        request.node.name = "cluster"
                        request.skipNodeUpdate = true
                        request.service = .with {
                            $0.id = "web-1"
                            $0.name = "web"
                            $0.port = 8080
                        }
                        change(&request)
                        do {
                            _ = try await catalog.register(request, metadata: metadata)
                            return nil
                        } catch let error as RPCError {
                            return error
                        } catch {
                            Issue.record("unexpected \(error)")
                            return nil
                        }
                    }
                    let instance = await register { $0.service.id = "db-1" }
                    #expect(instance?.code == .permissionDenied)
                    #expect(instance?.message.contains("service:write' on \"db\"") == true)
                    let node = await register {
                        $0.skipNodeUpdate = false
                        $0.node.address = "10.0.0.1"
                        $0.node.id = UUID().uuidString.lowercased()
                    }
                    #expect(node?.code == .permissionDenied)
                    #expect(node?.message.contains("node:write") == true)
                    let badStatus = await register {
                        $0.checks = [
                            .with {
                                $0.checkID = "web-1-alive"
                                $0.serviceID = "web-1"
                                $0.status = "fine"
                            }
                        ]
                    }
                    #expect(badStatus?.code == .invalidArgument)
                    let after = try await state()
                    #expect(after == before)

                    let own = await register { _ in }
                    #expect(own == nil)
                    let check = await register {
                        $0.checks = [
                            .with {
                                $0.checkID = "db-1-alive"
                                $0.serviceID = "web-1"
                                $0.status = "critical"
                            }
                        ]
                    }
                    #expect(check?.code == .permissionDenied)
                    #expect(check?.message.contains("service:write' on \"db\"") == true)
                }
                let db = try await admin.get("/v1/health/checks/db").array
                #expect(db.compactMap { $0["Status"] as? String } == ["passing"])
                #expect(try await admin.get("/v1/catalog/service/db").array.count == 1)
            }
        }
    }
}
