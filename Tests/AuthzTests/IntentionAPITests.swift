import ControlPlaneHarness
import Foundation
import MeshCore
import MeshTesting
import NIOHTTP1
import Testing

@Suite("authz-svc intentions API")
struct IntentionAPITests {
    @Test("exact beats wildcard in /check; deleting restores the wildcard's answer; no match follows default deny")
    func checkPrecedence() async throws {
        try await withAuthz { authz in
            let admin = authz.admin
            #expect(
                try await admin.put("/v1/connect/intentions/exact?source=*&destination=db", json: ["Action": "allow"])
                    .status == 200
            )
            #expect(
                try await admin.put("/v1/connect/intentions/exact?source=web&destination=db", json: ["Action": "deny"])
                    .status == 200
            )

            func allowed(_ source: String, _ destination: String) async throws -> Bool? {
                let answer = try await admin.get(
                    "/v1/connect/intentions/check?source=\(source)&destination=\(destination)"
                )
                return answer.object["Allowed"] as? Bool
            }
            #expect(try await allowed("web", "db") == false)
            #expect(try await allowed("api", "db") == true)
            #expect(try await allowed("api", "cache") == false)  // no intention: the default policy (deny)

            let exact = try await admin.get("/v1/connect/intentions/exact?source=web&destination=db")
            #expect(exact.object["Action"] as? String == "deny")
            #expect(exact.object["Precedence"] as? Int == 9)

            let match = try await admin.get("/v1/connect/intentions/match?by=destination&name=db")
            let ordered = (match.object["db"] as? [[String: Any]])?.compactMap { $0["SourceName"] as? String }
            #expect(ordered == ["web", "*"])

            #expect(try await admin.delete("/v1/connect/intentions/exact?source=web&destination=db").status == 200)
            #expect(try await allowed("web", "db") == true)
            let gone = try await admin.get("/v1/connect/intentions/exact?source=web&destination=db")
            #expect(gone.status == 404)
        }
    }

    @Test("writing an intention needs intentions:write on its destination; lists are filtered")
    func permissions() async throws {
        try await withAuthz { authz in
            let admin = authz.admin
            let policy = try await admin.put(
                "/v1/acl/policy",
                json: [
                    "Name": "db-intentions", "Rules": "service \"db\" { policy = \"read\"\n intentions = \"write\" }",
                ]
            )
            #expect(policy.status == 200)
            let token = try await admin.put("/v1/acl/token", json: ["Policies": [["Name": "db-intentions"]]])
            let operatorAPI = admin.with(token: try #require(token.object["SecretID"] as? String))

            let anonymous = try await authz.anonymous.put(
                "/v1/connect/intentions/exact?source=web&destination=db",
                json: ["Action": "allow"]
            )
            #expect(anonymous.status == 403)
            let other = try await operatorAPI.put(
                "/v1/connect/intentions/exact?source=web&destination=cache",
                json: ["Action": "allow"]
            )
            #expect(other.status == 403)
            #expect(other.text.contains("lacks permission 'intentions:write' on \"cache\""))
            #expect(
                try await operatorAPI.put(
                    "/v1/connect/intentions/exact?source=web&destination=db",
                    json: ["Action": "allow"]
                )
                .status == 200
            )
            #expect(
                try await admin.put(
                    "/v1/connect/intentions/exact?source=web&destination=cache",
                    json: ["Action": "deny"]
                ).status == 200
            )

            let list = try await operatorAPI.get("/v1/connect/intentions")
            #expect(list.array.map { $0["DestinationName"] as? String } == ["db"])
            #expect(list.headers.first(name: "X-Consul-Results-Filtered-By-ACLs") == "true")
            let all = try await admin.get("/v1/connect/intentions")
            #expect(all.array.count == 2)
            #expect(all.headers.first(name: "X-Consul-Results-Filtered-By-ACLs") == nil)
        }
    }

    @Test("bad intentions get 400 naming the field and change nothing; the legacy create returns an ID")
    func badInput() async throws {
        try await withAuthz { authz in
            let admin = authz.admin
            let badAction = try await admin.put(
                "/v1/connect/intentions/exact?source=web&destination=db",
                json: ["Action": "maybe"]
            )
            #expect(badAction.status == 400)
            #expect(badAction.text.contains("Action"))
            let both = try await admin.put(
                "/v1/connect/intentions/exact?source=web&destination=db",
                json: ["Action": "allow", "Permissions": [["Action": "deny", "HTTP": ["PathPrefix": "/admin"]]]]
            )
            #expect(both.status == 400)
            let noSource = try await admin.put("/v1/connect/intentions/exact?destination=db", json: ["Action": "allow"])
            #expect(noSource.status == 400)
            #expect(noSource.text == "required query parameter 'source' not set")
            let list = try await admin.get("/v1/connect/intentions")
            #expect(list.array.isEmpty)

            let created = try await admin.call(
                .POST,
                "/v1/connect/intentions",
                body: try JSONSerialization.data(withJSONObject: [
                    "SourceName": "web", "DestinationName": "db", "Action": "allow",
                ])
            )
            #expect(created.status == 200)
            let id = try #require(created.object["ID"] as? String)
            let byID = try await admin.get("/v1/connect/intentions/\(id)")
            #expect(byID.object["SourceName"] as? String == "web")
            let duplicate = try await admin.call(
                .POST,
                "/v1/connect/intentions",
                body: try JSONSerialization.data(withJSONObject: [
                    "SourceName": "web", "DestinationName": "db", "Action": "deny",
                ])
            )
            #expect(duplicate.status == 400)
        }
    }
}
