import ControlPlaneHarness
import Foundation
import MeshTesting
import Testing

/// `/v1/acl/auth-method(s)` and `/v1/acl/binding-rule(s)`: Consul's shapes, its checks, and
/// bad input that changes nothing.
@Suite("iam-auth-svc auth methods and binding rules API")
struct AuthMethodAPITests {
    static var method: [String: Any] {
        [
            "Name": "ecs",
            "Type": "aws-iam",
            "Description": "tasks",
            "MaxTokenTTL": "10m",
            "Config": [
                "BoundIAMPrincipalARNs": ["arn:aws:iam::123456789012:role/consul-ecs/*"],
                "EnableIAMEntityDetails": true,
                "IAMEntityTags": ["consul.hashicorp.com.service-name"],
            ] as [String: Any],
        ]
    }

    @Test("auth methods: create, read (any case), list without Config, update, delete with its rules")
    func methods() async throws {
        try await withAuthz { authz in
            try await withIAMAuth(authz: authz) { api in
                let admin = api.with(token: managementSecret)
                let created = try await admin.put("/v1/acl/auth-method", json: Self.method)
                #expect(created.status == 200, "\(created.text)")
                #expect(created.object["MaxTokenTTL"] as? String == "10m0s")
                #expect(created.object["CreateIndex"] as? Int ?? 0 > 0)

                let read = try await admin.get("/v1/acl/auth-method/ECS")
                #expect(read.status == 200)
                let config = read.object["Config"] as? [String: Any]
                #expect(config?["EnableIAMEntityDetails"] as? Bool == true)

                let list = try await admin.get("/v1/acl/auth-methods")
                #expect(list.array.count == 1)
                #expect(list.array.first?["Config"] == nil)
                #expect(list.array.first?["Name"] as? String == "ecs")

                var update = Self.method
                update["Description"] = "updated"
                let updated = try await admin.put("/v1/acl/auth-method/ecs", json: update)
                #expect(updated.object["Description"] as? String == "updated")
                #expect(
                    (updated.object["ModifyIndex"] as? Int ?? 0) > (created.object["ModifyIndex"] as? Int ?? 0)
                )

                let rule = try await admin.put(
                    "/v1/acl/binding-rule",
                    json: [
                        "AuthMethod": "ecs", "BindType": "service",
                        "BindName": "${entity_tags.consul.hashicorp.com.service-name}",
                        "Selector": #"entity_path == "/consul-ecs/""#,
                    ]
                )
                #expect(rule.status == 200, "\(rule.text)")
                let ruleID = try #require(rule.object["ID"] as? String)
                #expect(
                    try await admin.get("/v1/acl/binding-rule/\(ruleID)").object["BindType"] as? String == "service"
                )
                #expect(try await admin.get("/v1/acl/binding-rules?authmethod=ECS").array.count == 1)
                #expect(try await admin.get("/v1/acl/binding-rules?authmethod=other").array.isEmpty)

                var ruleUpdate = try #require(rule.object as [String: Any]?)
                ruleUpdate.removeValue(forKey: "ID")
                ruleUpdate["Description"] = "changed"
                let changed = try await admin.put("/v1/acl/binding-rule/\(ruleID)", json: ruleUpdate)
                #expect(changed.status == 200, "\(changed.text)")
                #expect(changed.object["Description"] as? String == "changed")

                #expect(try await admin.delete("/v1/acl/auth-method/ecs").text == "true")
                let gone = try await admin.get("/v1/acl/auth-method/ecs")
                #expect(gone.status == 404)
                #expect(gone.text == "Requested auth method does not exist: ACL not found")
                #expect(try await admin.get("/v1/acl/binding-rule/\(ruleID)").status == 404)
                #expect(try await admin.delete("/v1/acl/auth-method/ecs").status == 404)
            }
        }
    }

    @Test("bad auth methods get 400 with Consul's message and change nothing")
    func badMethods() async throws {
        try await withAuthz { authz in
            try await withIAMAuth(authz: authz) { api in
                let admin = api.with(token: managementSecret)
                func refused(
                    _ change: ([String: Any]) -> [String: Any],
                    path: String = "/v1/acl/auth-method"
                ) async throws
                    -> String
                {
                    let answer = try await admin.put(path, json: change(Self.method))
                    #expect(answer.status == 400, "\(answer.text)")
                    return answer.text
                }
                #expect(
                    try await refused {
                        var m = $0; m["Name"] = "bad name!"; return m
                    }.contains("invalid Name")
                )
                #expect(
                    try await refused {
                        var m = $0; m["Type"] = "ldap"; return m
                    }.contains("Type should be one of")
                )
                #expect(
                    try await refused {
                        var m = $0; m["MaxTokenTTL"] = "30s"; return m
                    }.contains("less than 1m0s")
                )
                #expect(
                    try await refused {
                        var m = $0; m["MaxTokenTTL"] = "soon"; return m
                    }.contains("MaxTokenTTL")
                )
                #expect(
                    try await refused {
                        var m = $0; m["TokenLocality"] = "everywhere"; return m
                    }.contains("'local' or 'global'")
                )
                #expect(
                    try await refused {
                        var m = $0; m["Surprise"] = 1; return m
                    }.contains(#"unknown field "surprise""#)
                )
                #expect(
                    try await refused {
                        var m = $0
                        m["Config"] = ["BoundIAMPrincipalARNs": ["arn:aws:iam::1:role/x*"]]
                        return m
                    }.contains("EnableIAMEntityDetails=true")
                )
                #expect(try await refused({ $0 }, path: "/v1/acl/auth-method/other").contains("do not match"))
                let malformed = try await admin.put("/v1/acl/auth-method", text: "{not json")
                #expect(malformed.status == 400)
                #expect(try await admin.get("/v1/acl/auth-methods").array.isEmpty)

                // A type cannot change once made.
                #expect(try await admin.put("/v1/acl/auth-method", json: Self.method).status == 200)
                #expect(
                    try await refused {
                        var m = $0; m["Type"] = "jwt"; return m
                    }.contains("immutable")
                )
            }
        }
    }

    @Test("bad binding rules get 400 and change nothing; unknown IDs are 404")
    func badRules() async throws {
        try await withAuthz { authz in
            try await withIAMAuth(authz: authz) { api in
                let admin = api.with(token: managementSecret)
                #expect(try await admin.put("/v1/acl/auth-method", json: Self.method).status == 200)
                let good: [String: Any] = ["AuthMethod": "ecs", "BindType": "service", "BindName": "web"]
                func refused(_ change: ([String: Any]) -> [String: Any]) async throws -> String {
                    let answer = try await admin.put("/v1/acl/binding-rule", json: change(good))
                    #expect(answer.status == 400, "\(answer.text)")
                    return answer.text
                }
                #expect(
                    try await refused {
                        var r = $0; r["AuthMethod"] = "nope"; return r
                    }.contains("cannot find auth method")
                )
                #expect(
                    try await refused {
                        var r = $0; r["AuthMethod"] = nil; return r
                    }.contains("no AuthMethod")
                )
                #expect(
                    try await refused {
                        var r = $0; r["BindType"] = "group"; return r
                    }.contains("unknown BindType")
                )
                #expect(
                    try await refused {
                        var r = $0; r["BindName"] = nil; return r
                    }.contains("no BindName")
                )
                #expect(
                    try await refused {
                        var r = $0; r["BindName"] = "${nope}"; return r
                    }.contains("unknown variable")
                )
                #expect(
                    try await refused {
                        var r = $0; r["BindName"] = "Web"; return r
                    }.contains("invalid bind name")
                )
                #expect(
                    try await refused {
                        var r = $0; r["Selector"] = "entity_name =="; return r
                    }.contains("Selector is invalid")
                )
                #expect(
                    try await refused {
                        var r = $0; r["ID"] = UUID().uuidString; return r
                    }.contains("do not match")
                )
                #expect(try await admin.get("/v1/acl/binding-rules").array.isEmpty)

                let missing = UUID().uuidString.lowercased()
                let unknown = try await admin.get("/v1/acl/binding-rule/\(missing)")
                #expect(unknown.status == 404)
                #expect(unknown.text == "Requested binding rule does not exist: ACL not found")
                #expect(try await admin.delete("/v1/acl/binding-rule/\(missing)").status == 404)
                #expect(try await admin.put("/v1/acl/binding-rule/not-a-uuid", json: good).status == 400)
            }
        }
    }

    @Test("reads need acl:read and writes acl:write; anonymous is refused")
    func permissions() async throws {
        try await withAuthz { authz in
            let reader = try await authz.admin.put(
                "/v1/acl/policy",
                json: ["Name": "acl-read", "Rules": #"acl = "read""#]
            )
            #expect(reader.status == 200)
            let token = try await authz.admin.put("/v1/acl/token", json: ["Policies": [["Name": "acl-read"]]])
            let secret = try #require(token.object["SecretID"] as? String)
            try await withIAMAuth(authz: authz) { api in
                let anonymous = try await api.put("/v1/acl/auth-method", json: Self.method)
                #expect(anonymous.status == 403)
                #expect(anonymous.text.hasPrefix("Permission denied: anonymous token lacks permission 'acl:write'"))
                let readOnly = api.with(token: secret)
                #expect(try await readOnly.get("/v1/acl/auth-methods").status == 200)
                let write = try await readOnly.put("/v1/acl/auth-method", json: Self.method)
                #expect(write.status == 403)
                #expect(write.text.contains("lacks permission 'acl:write'"))
                #expect(try await api.get("/v1/acl/binding-rules").status == 403)
                #expect(try await api.with(token: "no-such-token").get("/v1/acl/auth-methods").text == "ACL not found")
            }
        }
    }
}
