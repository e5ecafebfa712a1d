import ControlPlaneHarness
import Foundation
import MeshTesting
import Testing

/// The control plane's address answers `/v1/agent/self` and `/v1/agent/members` itself (there is
/// no agent node behind a load balancer), so clients that read them at start work.
@Suite("catalog-svc: /v1/agent/self and /members")
struct CatalogAgentTests {
    @Test("self names the datacenter and the answering replica (agent:read); members lists the replicas by node:read")
    func selfAndMembers() async throws {
        try await withAuthz { authz in
            try await withCatalog(enforcedBy: authz) { catalog in
                let admin = catalog.with(token: managementSecret)
                let me = try await admin.get("/v1/agent/self")
                #expect(me.status == 200)
                let config = try #require(me.object["Config"] as? [String: Any])
                #expect(config["Datacenter"] as? String == "dc1")
                #expect(config["Server"] as? Bool == true)
                let name = try #require(config["NodeName"] as? String)
                #expect((me.object["Member"] as? [String: Any])?["Name"] as? String == name)
                let peers = try #require(try await admin.get("/v1/status/peers").json as? [String])
                #expect(peers.contains(name))

                let members = try await admin.get("/v1/agent/members")
                #expect(members.array.compactMap { $0["Name"] as? String } == peers)
                #expect(members.array.first?["Status"] as? Int == 1)

                // Default deny: the anonymous caller may not read the agent, and sees no member.
                let anonymous = try await catalog.get("/v1/agent/self")
                #expect(anonymous.status == 403)
                #expect(anonymous.text.contains("agent:read"))
                #expect(try await catalog.get("/v1/agent/members").array.isEmpty)

                // No agent node here: registering through one is a 400 that says where to go.
                let registration = try await admin.put(
                    "/v1/agent/service/register",
                    json: ["Name": "web", "Port": 8080]
                )
                #expect(registration.status == 400)
                #expect(registration.text.contains("mesh-agent"))
                #expect(try await admin.put("/v1/agent/check/deregister/x", json: [:]).status == 400)
                #expect(try await admin.get("/v1/catalog/service/web").array.isEmpty)
            }
        }
    }
}
