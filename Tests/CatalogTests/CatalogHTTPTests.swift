import Catalog
import Foundation
import GRPCCore
import MeshProto
import MeshTesting
import NIOHTTP1
import SwiftProtobuf
import Testing

@Suite("Catalog REST API")
struct CatalogHTTPTests {
    @Test("a registration is visible through every read endpoint, in Consul's shapes")
    func registerAndRead() async throws {
        try await withCatalogServer { replica in
            let api = API(replica.http)
            try await api.register(
                instance(
                    node: "n1",
                    service: "web",
                    id: "web-1",
                    tags: ["v1", "blue"],
                    checks: [["CheckID": "web-alive", "Name": "alive", "ServiceID": "web-1", "Status": "passing"]]
                )
            )
            try await api.register([
                "Node": "n1", "Address": "10.0.0.1", "Check": ["CheckID": "disk", "Name": "disk", "Status": "warning"],
            ])

            let services = try await api.get("/v1/catalog/services")
            #expect(services.status == 200)
            #expect((services.object["web"] as? [String]).map(Set.init) == ["v1", "blue"])
            #expect((services.index ?? 0) > 1)
            #expect(services.headers.first(name: "X-Consul-KnownLeader") == "true")
            #expect(services.headers.first(name: "X-Consul-LastContact") == "0")

            let entries = try await api.get("/v1/catalog/service/web?tag=v1").array
            #expect(entries.count == 1)
            #expect(entries.first?["ServiceID"] as? String == "web-1")
            #expect(entries.first?["ServicePort"] as? Int == 8080)
            #expect(entries.first?["Node"] as? String == "n1")
            #expect(entries.first?["Datacenter"] as? String == "dc1")
            #expect(try await api.get("/v1/catalog/service/web?tag=v2").array.isEmpty)

            let nodes = try await api.get("/v1/catalog/nodes").array
            #expect(nodes.map { $0["Node"] as? String } == ["n1"])
            let node = try await api.get("/v1/catalog/node/n1").object
            #expect((node["Services"] as? [String: Any])?.keys.sorted() == ["web-1"])
            let unknown = try await api.get("/v1/catalog/node/nope")
            #expect(unknown.status == 200 && unknown.text == "null" && unknown.index != nil)

            let health = try await api.get("/v1/health/service/web").array
            #expect(health.count == 1)
            let checkIDs = (health.first?["Checks"] as? [[String: Any]])?.compactMap { $0["CheckID"] as? String }
            #expect(checkIDs?.sorted() == ["disk", "web-alive"])
            // The node check is warning, so the instance is not passing.
            #expect(try await api.get("/v1/health/service/web?passing").array.isEmpty)
            #expect(try await api.get("/v1/health/service/web?passing=false").array.count == 1)

            #expect(try await api.get("/v1/health/checks/web").array.map { $0["CheckID"] as? String } == ["web-alive"])
            #expect(try await api.get("/v1/health/node/n1").array.count == 2)
            #expect(try await api.get("/v1/health/state/warning").array.map { $0["CheckID"] as? String } == ["disk"])
            #expect(try await api.get("/v1/health/state/any").array.count == 2)
            #expect(try await api.get("/v1/health/service/unknown").array.isEmpty)
        }
    }

    @Test("re-registering the same instance changes no index")
    func idempotentRegister() async throws {
        try await withCatalogServer { replica in
            let api = API(replica.http)
            try await api.register(instance(node: "n1", service: "web"))
            let first = try await api.get("/v1/health/service/web").index
            try await api.register(instance(node: "n1", service: "web"))
            #expect(try await api.get("/v1/health/service/web").index == first)
            try await api.register(instance(node: "n1", service: "web", port: 9090))
            #expect(try await api.get("/v1/health/service/web").index! > first!)
        }
    }

    @Test("bad input gets 400 naming the field, 413 past the size limit, and writes nothing")
    func badInput() async throws {
        try await withCatalogServer { replica in
            let api = API(replica.http)
            let malformed = try await api.call(.PUT, "/v1/catalog/register", body: Data("{not json".utf8))
            #expect(malformed.status == 400)
            let noAddress = try await api.put("/v1/catalog/register", json: ["Node": "bad1"])
            #expect(noAddress.status == 400 && noAddress.text.contains("Address"))
            let badPort = try await api.put(
                "/v1/catalog/register",
                json: ["Node": "bad2", "Address": "1.2.3.4", "Service": ["Service": "x", "Port": "abc"]]
            )
            #expect(badPort.status == 400 && badPort.text.contains("Service.Port"))
            let badStatus = try await api.put(
                "/v1/catalog/register",
                json: ["Node": "bad3", "Address": "1.2.3.4", "Check": ["Name": "c", "Status": "bogus"]]
            )
            #expect(badStatus.status == 400 && badStatus.text.contains("Status"))
            // A Proxy or Connect block is kept as sent, but only once it reads as Consul's types.
            for (block, field) in [
                (["Proxy": "direct"], "Service.Proxy"),
                (["Proxy": ["Upstreams": [["DestinationName": "db", "LocalBindPort": "5432"]]]], "LocalBindPort"),
                (["Proxy": ["LocalServicePort": 70000]], "Service.Proxy.LocalServicePort"),
                (["Proxy": ["Config": ["protocol", "http"]]], "Service.Proxy.Config"),
                (["Connect": ["Native": "yes"]], "Service.Connect.Native"),
            ] as [([String: Any], String)] {
                var service: [String: Any] = ["Service": "proxied", "Kind": "connect-proxy"]
                service.merge(block) { $1 }
                let refused = try await api.put(
                    "/v1/catalog/register",
                    json: ["Node": "bad6", "Address": "1.2.3.4", "Service": service]
                )
                #expect(refused.status == 400 && refused.text.contains(field), "\(block): \(refused.text)")
            }
            // The check names an instance that does not exist: the whole registration is refused,
            // including the node and the service that came with it.
            let orphan = try await api.put(
                "/v1/catalog/register",
                json: [
                    "Node": "bad4", "Address": "1.2.3.4", "Service": ["Service": "svc-bad4"],
                    "Checks": [["Name": "c", "ServiceID": "missing"]],
                ]
            )
            #expect(orphan.status == 400 && orphan.text.contains("ServiceID"))
            let huge = try await api.call(
                .PUT,
                "/v1/catalog/register",
                body: Data(("{\"Node\":\"bad5\",\"Address\":\"" + String(repeating: "a", count: 2 << 20) + "\"}").utf8)
            )
            #expect(huge.status == 413)
            #expect(try await api.get("/v1/health/service/x?index=abc").status == 400)
            #expect(try await api.get("/v1/health/service/x?index=1&wait=10").status == 400)
            #expect(try await api.get("/v1/health/state/bogus").status == 400)
            #expect(try await api.get("/v1/health/service/x?passing=maybe").status == 400)
            let nodes = try await api.get("/v1/catalog/nodes").array
            #expect(nodes.isEmpty)
            #expect(try await api.get("/v1/catalog/services").object.isEmpty)
        }
    }

    @Test("deregistering removes an instance with its checks, a whole node, and is a no-op when unknown")
    func deregister() async throws {
        try await withCatalogServer { replica in
            let api = API(replica.http)
            try await api.register(
                instance(
                    node: "n1",
                    service: "web",
                    id: "w1",
                    checks: [["CheckID": "c1", "Name": "c1", "ServiceID": "w1"]]
                )
            )
            try await api.register(instance(node: "n1", service: "api", id: "a1"))
            let before = try await api.get("/v1/health/service/web").index!
            #expect(
                try await api.put("/v1/catalog/deregister", json: ["Node": "n1", "ServiceID": "w1"]).text == "true"
            )
            let after = try await api.get("/v1/health/service/web")
            #expect(after.array.isEmpty)
            // A delete moves the service's index on (a tombstone), so watchers see it.
            #expect(after.index! > before)
            #expect(try await api.get("/v1/health/checks/web").array.isEmpty)
            // Removing a node check changes the health of every instance on the node.
            try await api.register(["Node": "n1", "Address": "10.0.0.1", "Check": ["CheckID": "disk", "Name": "disk"]])
            let withNodeCheck = try await api.get("/v1/health/service/api")
            #expect(withNodeCheck.array.first.flatMap { ($0["Checks"] as? [Any])?.count } == 1)
            #expect(try await api.put("/v1/catalog/deregister", json: ["Node": "n1", "CheckID": "disk"]).status == 200)
            let withoutNodeCheck = try await api.get("/v1/health/service/api")
            #expect(withoutNodeCheck.array.first.flatMap { ($0["Checks"] as? [Any])?.count } == 0)
            #expect(withoutNodeCheck.index! > withNodeCheck.index!)
            #expect(try await api.put("/v1/catalog/deregister", json: ["Node": "n1"]).status == 200)
            #expect(try await api.get("/v1/catalog/nodes").array.isEmpty)
            #expect(try await api.put("/v1/catalog/deregister", json: ["Node": "ghost"]).text == "true")
            #expect(try await api.put("/v1/catalog/deregister", json: ["ServiceID": "x"]).status == 400)
        }
    }

    @Test("status, readiness and metrics endpoints answer")
    func operational() async throws {
        try await withCatalogServer { replica in
            let api = API(replica.http)
            #expect(try await api.get("/ready").status == 200)
            let metrics = try await api.get("/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.text.contains("hb_requests") || metrics.text.contains("http"))
            let peers = try await api.get("/v1/status/peers").json as? [String]
            #expect(peers?.count == 1)
            // The leader is elected shortly after start; wait for it with a blocking-free retry bound.
            var leader = ""
            for _ in 0..<200 where leader.isEmpty {
                leader = (try await api.get("/v1/status/leader").json as? String) ?? ""
                if leader.isEmpty { try await Task.sleep(for: .milliseconds(25)) }
            }
            #expect(peers?.first == leader)
        }
    }
}
