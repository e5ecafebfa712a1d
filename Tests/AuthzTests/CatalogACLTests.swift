import ControlPlaneHarness
import Foundation
import MeshCore
import MeshRPC
import MeshStore
import MeshTesting
import NIOHTTP1
import ServiceLifecycle
import Testing

@Suite("catalog-svc under ACLs")
struct CatalogACLTests {
    @Test("a service-identity token registers its own service and not another; reads are filtered")
    func serviceIdentity() async throws {
        try await withAuthz { authz in
            let token = try await authz.admin.put(
                "/v1/acl/token",
                json: ["ServiceIdentities": [["ServiceName": "web"]]]
            )
            let secret = try #require(token.object["SecretID"] as? String)
            let accessor = try #require(token.object["AccessorID"] as? String)
            try await withCatalog(enforcedBy: authz) { catalog in
                let admin = catalog.with(token: managementSecret)
                let web = catalog.with(token: secret)
                let node: [String: Any] = ["Node": "task-1", "Address": "10.0.0.1"]
                #expect(try await admin.put("/v1/catalog/register", json: node).status == 200)

                var register = node
                register["Service"] = ["Service": "web", "Port": 8080]
                let own = try await web.put("/v1/catalog/register", json: register)
                #expect(own.status == 200)

                register["Service"] = ["Service": "db", "Port": 5432]
                let other = try await web.put("/v1/catalog/register", json: register)
                #expect(other.status == 403)
                #expect(
                    other.text
                        == "Permission denied: token with AccessorID '\(accessor)' lacks permission 'service:write' on \"db\""
                )
                // A new node needs node:write, which a service identity does not carry.
                let newNode = try await web.put(
                    "/v1/catalog/register",
                    json: ["Node": "task-2", "Address": "10.0.0.2", "Service": ["Service": "web"]]
                )
                #expect(newNode.status == 403)
                let nodes = try await admin.get("/v1/catalog/nodes")
                #expect(nodes.array.count == 1)

                let anonymous = try await catalog.get("/v1/catalog/services")
                #expect(anonymous.status == 200)
                #expect(anonymous.object.isEmpty)
                #expect(anonymous.headers.first(name: "X-Consul-Results-Filtered-By-ACLs") == "true")
                let visible = try await web.get("/v1/catalog/services")
                #expect(visible.object.keys.sorted() == ["web"])

                let unknown = try await catalog.with(token: UUID().uuidString).get("/v1/catalog/services")
                #expect(unknown.status == 403)
                #expect(unknown.text == "ACL not found")
            }
        }
    }

    @Test("a deleted token is refused by catalog-svc once the deletion reaches it")
    func deletedToken() async throws {
        try await withAuthz { authz in
            let token = try await authz.admin.put(
                "/v1/acl/token",
                json: ["ServiceIdentities": [["ServiceName": "web"]]]
            )
            let secret = try #require(token.object["SecretID"] as? String)
            let accessor = try #require(token.object["AccessorID"] as? String)
            try await withCatalog(enforcedBy: authz) { catalog in
                let web = catalog.with(token: secret)
                #expect(try await web.get("/v1/catalog/services").status == 200)
                #expect(try await authz.admin.delete("/v1/acl/token/\(accessor)").status == 200)
                try await eventually("catalog-svc to refuse the deleted token") {
                    try await web.get("/v1/catalog/services").status == 403
                }
            }
        }
    }
}
