import ControlPlaneHarness
import Foundation
import Logging
import MeshCore
import MeshRPC
import MeshServer
import MeshStore
import MeshTesting
import PostgresNIO
import ServiceLifecycle
import Testing

@Suite("authz-svc ACL API")
struct ACLAPITests {
    @Test("bootstrap is used up by the initial management token; anonymous callers are refused")
    func bootstrapAndAnonymous() async throws {
        try await withAuthz { authz in
            let again = try await authz.anonymous.put("/v1/acl/bootstrap", json: [String: Any]())
            #expect(again.status == 403)
            #expect(again.text.hasPrefix("Permission denied: ACL bootstrap no longer allowed (reset index: "))

            let anonymous = try await authz.anonymous.get("/v1/acl/tokens")
            #expect(anonymous.status == 403)
            #expect(anonymous.text.hasPrefix("Permission denied: anonymous token lacks permission 'acl:read'"))

            let unknown = try await authz.admin.with(token: UUID().uuidString.lowercased()).get("/v1/acl/tokens")
            #expect(unknown.status == 403)
            #expect(unknown.text == "ACL not found")

            let tokens = try await authz.admin.get("/v1/acl/tokens")
            #expect(tokens.status == 200)
            let descriptions = Set(tokens.array.compactMap { $0["Description"] as? String })
            #expect(descriptions == ["Anonymous Token", "Bootstrap Token (Global Management)"])
            #expect(tokens.array.allSatisfy { $0["SecretID"] as? String == "<hidden>" })
        }
    }

    @Test("policies: created, read by name, listed without rules; bad rules give 400 with the position")
    func policies() async throws {
        try await withAuthz { authz in
            let created = try await authz.admin.put(
                "/v1/acl/policy",
                json: ["Name": "web-read", "Rules": "# read web\nservice \"web\" {\n  policy = \"read\"\n}\n"]
            )
            #expect(created.status == 200)
            let id = try #require(created.object["ID"] as? String)
            let byName = try await authz.admin.get("/v1/acl/policy/name/web-read")
            #expect(byName.object["ID"] as? String == id)
            #expect((byName.object["Rules"] as? String)?.contains("service \"web\"") == true)

            let list = try await authz.admin.get("/v1/acl/policies")
            let stub = try #require(list.array.first { $0["Name"] as? String == "web-read" })
            #expect(stub["Rules"] == nil)

            let bad = try await authz.admin.put(
                "/v1/acl/policy",
                json: ["Name": "bad", "Rules": "service \"web\" {\n  policy = \"reed\"\n}"]
            )
            #expect(bad.status == 400)
            #expect(bad.text.contains("line 2, column"))
            #expect(bad.text.contains("reed"))
            let afterBad = try await authz.admin.get("/v1/acl/policy/name/bad")
            #expect(afterBad.status == 404)

            let duplicate = try await authz.admin.put("/v1/acl/policy", json: ["Name": "web-read"])
            #expect(duplicate.status == 400)
            #expect(duplicate.text.contains("already exists"))

            let builtin = try await authz.admin.delete("/v1/acl/policy/00000000-0000-0000-0000-000000000001")
            #expect(builtin.status == 400)
            let missing = try await authz.admin.delete("/v1/acl/policy/\(UUID().uuidString.lowercased())")
            #expect(missing.status == 404)
            #expect(missing.text == "Cannot find policy to delete")
        }
    }

    @Test("tokens: the secret is shown once, stored only as a hash, and a token's rules decide what it may do")
    func tokens() async throws {
        try await withAuthz { authz in
            let policy = try await authz.admin.put(
                "/v1/acl/policy",
                json: ["Name": "acl-reader", "Rules": "acl = \"read\""]
            )
            #expect(policy.status == 200)
            let created = try await authz.admin.put(
                "/v1/acl/token",
                json: ["Description": "reader", "Policies": [["Name": "acl-reader"]]]
            )
            #expect(created.status == 200)
            let secret = try #require(created.object["SecretID"] as? String)
            let accessor = try #require(created.object["AccessorID"] as? String)
            #expect(secret != "<hidden>")

            let reader = authz.admin.with(token: secret)
            #expect(try await reader.get("/v1/acl/tokens").status == 200)
            let denied = try await reader.put("/v1/acl/policy", json: ["Name": "nope"])
            #expect(denied.status == 403)
            #expect(
                denied.text == "Permission denied: token with AccessorID '\(accessor)' lacks permission 'acl:write'"
            )

            let me = try await reader.get("/v1/acl/token/self")
            #expect(me.object["AccessorID"] as? String == accessor)
            #expect(me.object["SecretID"] as? String == secret)

            let read = try await authz.admin.get("/v1/acl/token/\(accessor)")
            #expect(read.object["SecretID"] as? String == "<hidden>")
            let links = read.object["Policies"] as? [[String: Any]]
            #expect(links?.first?["Name"] as? String == "acl-reader")

            // The database never sees the secret.
            let client = PostgresClient(
                configuration: try authz.database.clientConfiguration(),
                backgroundLogger: testLogger
            )
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                let rows = try await client.query(
                    "SELECT count(*) FROM authz.tokens WHERE position(\(secret) IN row_to_json(tokens)::text) > 0",
                    logger: testLogger
                )
                for try await count in rows.decode(Int64.self) { #expect(count == 0) }
                group.cancelAll()
            }

            let unknownLink = try await authz.admin.put(
                "/v1/acl/token",
                json: ["Policies": [["Name": "no-such-policy"]]]
            )
            #expect(unknownLink.status == 400)
            #expect(unknownLink.text.contains("Policies[0]"))

            #expect(try await authz.admin.delete("/v1/acl/token/\(accessor)").status == 200)
            let gone = try await reader.get("/v1/acl/tokens")
            #expect(gone.status == 403)
            #expect(gone.text == "ACL not found")
            let readGone = try await authz.admin.get("/v1/acl/token/\(accessor)")
            #expect(readGone.status == 403)
            let deleteGone = try await authz.admin.delete("/v1/acl/token/\(accessor)")
            #expect(deleteGone.status == 404)
        }
    }

    @Test("roles carry policies and service identities to their tokens")
    func roles() async throws {
        try await withAuthz { authz in
            let role = try await authz.admin.put(
                "/v1/acl/role",
                json: ["Name": "web-role", "ServiceIdentities": [["ServiceName": "web"]]]
            )
            #expect(role.status == 200)
            let invalid = try await authz.admin.put(
                "/v1/acl/role",
                json: ["Name": "bad-role", "ServiceIdentities": [["ServiceName": "Web!"]]]
            )
            #expect(invalid.status == 400)
            #expect(invalid.text.contains("ServiceIdentities[0].ServiceName"))

            let token = try await authz.admin.put("/v1/acl/token", json: ["Roles": [["Name": "web-role"]]])
            let secret = try #require(token.object["SecretID"] as? String)
            let resolved = try await withRemoteGate(authz) { gate in
                try await gate.caller(secret: secret)
            }
            #expect(resolved.authorizer.serviceWrite("web"))
            #expect(resolved.authorizer.serviceWrite("web-sidecar-proxy"))
            #expect(!resolved.authorizer.serviceWrite("db"))
            #expect(resolved.authorizer.serviceRead("db"))
            #expect(!resolved.authorizer.aclRead)

            // A role's policies reach its tokens too.
            #expect(
                try await authz.admin.put("/v1/acl/policy", json: ["Name": "acl-read", "Rules": "acl = \"read\""])
                    .status == 200
            )
            #expect(
                try await authz.admin.put(
                    "/v1/acl/role",
                    json: ["Name": "auditor", "Policies": [["Name": "acl-read"]]]
                )
                .status == 200
            )
            let auditor = try await authz.admin.put("/v1/acl/token", json: ["Roles": [["Name": "auditor"]]])
            let auditorSecret = try #require(auditor.object["SecretID"] as? String)
            #expect(try await authz.admin.with(token: auditorSecret).get("/v1/acl/tokens").status == 200)
            #expect(
                try await authz.admin.with(token: auditorSecret).put("/v1/acl/policy", json: ["Name": "x"]).status
                    == 403
            )
        }
    }

    @Test("a deleted token stops resolving through the gRPC gate once the change arrives")
    func deletionReachesRemoteGate() async throws {
        try await withAuthz { authz in
            let created = try await authz.admin.put(
                "/v1/acl/token",
                json: ["ServiceIdentities": [["ServiceName": "api"]]]
            )
            let secret = try #require(created.object["SecretID"] as? String)
            let accessor = try #require(created.object["AccessorID"] as? String)
            try await withRemoteGate(authz) { gate in
                let before = try await gate.caller(secret: secret)
                #expect(before.accessorID == accessor)
                // Cached now; the deletion must still reach this gate through the watch.
                _ = try await gate.caller(secret: secret)
                #expect(try await authz.admin.delete("/v1/acl/token/\(accessor)").status == 200)
                try await eventually("the gate to refuse the deleted token") {
                    do {
                        _ = try await gate.caller(secret: secret)
                        return false
                    } catch ACLDenial.notFound {
                        return true
                    }
                }
            }
        }
    }
}

/// Runs a `RemoteACL` against the authz-svc under test (as catalog-svc and ca-svc do).
func withRemoteGate<T: Sendable>(
    _ authz: AuthzUnderTest,
    _ body: @Sendable (ACLGate) async throws -> T
) async throws -> T {
    // A generous deadline: the whole test suite shares two cores, and a timeout here is not what is tested.
    let remote = try RemoteACL(
        authzAddress: ServiceAddress(authz.grpc),
        defaultPolicy: .deny,
        resolveTimeout: .seconds(30),
        logger: testLogger
    )
    return try await withThrowingTaskGroup(of: Void.self) { group in
        let lifecycle = ServiceGroup(configuration: .init(services: [remote], logger: testLogger))
        group.addTask { try await lifecycle.run() }
        let result: Result<T, any Error>
        do {
            _ = await remote.synced.value
            result = .success(try await body(remote.gate))
        } catch {
            result = .failure(error)
        }
        await lifecycle.triggerGracefulShutdown()
        try await group.waitForAll()
        return try result.get()
    }
}
