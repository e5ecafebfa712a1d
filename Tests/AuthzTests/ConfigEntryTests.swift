import ControlPlaneHarness
import Foundation
import MeshTesting
import NIOHTTP1
import Testing

/// catalog-svc's `/v1/config` (service-defaults, proxy-defaults) under ACLs.
@Suite("config entries")
struct ConfigEntryTests {
    @Test("service-defaults: write, read, list, check-and-set, delete; a blocking list wakes on a change")
    func lifecycle() async throws {
        try await withAuthz { authz in
            try await withCatalog(enforcedBy: authz) { catalog in
                let admin = catalog.with(token: managementSecret)
                let written = try await admin.put(
                    "/v1/config",
                    json: ["Kind": "service-defaults", "Name": "web", "Protocol": "HTTP", "Meta": ["team": "a"]]
                )
                #expect(written.status == 200)
                #expect(written.text == "true")
                let read = try await admin.get("/v1/config/service-defaults/web")
                #expect(read.object["Protocol"] as? String == "http")
                #expect(read.object["Kind"] as? String == "service-defaults")
                let modifyIndex = try #require(read.object["ModifyIndex"] as? Int)
                #expect(try await admin.get("/v1/config/service-defaults").array.count == 1)

                // Check-and-set: 0 means "only if absent"; a stale index changes nothing.
                let absentOnly = try await admin.put(
                    "/v1/config?cas=0",
                    json: ["Kind": "service-defaults", "Name": "web", "Protocol": "grpc"]
                )
                #expect(absentOnly.text == "false")
                let current = try await admin.put(
                    "/v1/config?cas=\(modifyIndex)",
                    json: ["Kind": "service-defaults", "Name": "web", "Protocol": "grpc"]
                )
                #expect(current.text == "true")
                #expect(try await admin.get("/v1/config/service-defaults/web").object["Protocol"] as? String == "grpc")

                // A blocking list returns when an entry changes, with a higher index.
                let list = try await admin.get("/v1/config/service-defaults")
                let index = try #require(list.index)
                let body = try JSONSerialization.data(withJSONObject: [
                    "Kind": "service-defaults", "Name": "api", "Protocol": "tcp",
                ])
                async let blocked = admin.get("/v1/config/service-defaults?index=\(index)&wait=20s")
                try await Task.sleep(for: .milliseconds(200))
                #expect(try await admin.call(.PUT, "/v1/config", body: body).status == 200)
                let woken = try await blocked
                #expect(woken.array.count == 2)
                #expect((woken.index ?? 0) > index)

                let deleted = try await admin.delete("/v1/config/service-defaults/web")
                #expect(deleted.status == 200)
                #expect(deleted.text == "{}")
                let gone = try await admin.get("/v1/config/service-defaults/web")
                #expect(gone.status == 404)
                #expect(gone.text == #"Config entry not found for "service-defaults" / "web""#)
            }
        }
    }

    @Test("bad entries get 400 naming the field and write nothing")
    func badInput() async throws {
        try await withAuthz { authz in
            try await withCatalog(enforcedBy: authz) { catalog in
                let admin = catalog.with(token: managementSecret)
                let cases: [([String: Any], String)] = [
                    (["Kind": "service-router", "Name": "web"], "invalid config entry kind: service-router"),
                    (["Kind": "service-defaults"], "Name"),
                    (["Kind": "service-defaults", "Name": "web", "Protocol": "udp"], "Protocol"),
                    (["Kind": "service-defaults", "Name": "web", "Surprise": 1], "Surprise"),
                    (["Kind": "service-defaults", "Name": "web", "Meta": ["n": 1]], "Meta"),
                    (["Kind": "proxy-defaults", "Name": "mine"], "only \"global\""),
                    (["Kind": "proxy-defaults", "Name": "global", "Config": ["protocol": "smtp"]], "Config.protocol"),
                ]
                for (body, message) in cases {
                    let answer = try await admin.put("/v1/config", json: body)
                    #expect(answer.status == 400, "\(body)")
                    #expect(answer.text.contains(message), "\(answer.text)")
                }
                #expect(try await admin.get("/v1/config/service-defaults").array.isEmpty)
                #expect(try await admin.get("/v1/config/proxy-defaults").array.isEmpty)
                #expect(try await admin.get("/v1/config/nonsense").status == 400)
                #expect(
                    try await admin.put("/v1/config?cas=x", json: ["Kind": "service-defaults", "Name": "w"]).status
                        == 400
                )
                let global = try await admin.put(
                    "/v1/config",
                    json: ["Kind": "proxy-defaults", "Name": "global", "Config": ["protocol": "http"]]
                )
                #expect(global.text == "true")
            }
        }
    }

    @Test("service:write on the service for its defaults, mesh:write for the proxy defaults; reads filtered")
    func permissions() async throws {
        try await withAuthz { authz in
            let token = try await authz.admin.put(
                "/v1/acl/token",
                json: ["ServiceIdentities": [["ServiceName": "web"]]]
            )
            let secret = try #require(token.object["SecretID"] as? String)
            try await withCatalog(enforcedBy: authz) { catalog in
                let web = catalog.with(token: secret)
                #expect(
                    try await web.put("/v1/config", json: ["Kind": "service-defaults", "Name": "web"]).status == 200
                )
                let other = try await web.put("/v1/config", json: ["Kind": "service-defaults", "Name": "api"])
                #expect(other.status == 403)
                #expect(other.text.contains("service:write"))
                let proxy = try await web.put("/v1/config", json: ["Kind": "proxy-defaults", "Name": "global"])
                #expect(proxy.status == 403)
                #expect(try await web.delete("/v1/config/service-defaults/api").status == 403)
                // Anonymous (default deny) sees no service's defaults.
                let anonymous = try await catalog.get("/v1/config/service-defaults")
                #expect(anonymous.status == 200)
                #expect(anonymous.array.isEmpty)
                #expect(anonymous.headers.first(name: "X-Consul-Results-Filtered-By-ACLs") == "true")
                #expect(try await catalog.get("/v1/config/service-defaults/web").status == 403)
            }
        }
    }
}
