import ControlPlaneHarness
import Foundation
import Logging
import MeshCore
import MeshStore
import MeshTesting
import PostgresNIO
import Testing

@Suite("token expiration")
struct TokenExpiryTests {
    @Test("ExpirationTTL is bounded (1m..24h) and exclusive with ExpirationTime; it sets ExpirationTime")
    func bounds() async throws {
        try await withAuthz { authz in
            let short = try await authz.admin.put("/v1/acl/token", json: ["ExpirationTTL": "30s"])
            #expect(short.status == 400)
            #expect(short.text.contains("cannot be less than 1m0s"))
            let long = try await authz.admin.put("/v1/acl/token", json: ["ExpirationTTL": "48h"])
            #expect(long.status == 400)
            #expect(long.text.contains("cannot be more than 24h0m0s"))
            let both = try await authz.admin.put(
                "/v1/acl/token",
                json: ["ExpirationTTL": "10m", "ExpirationTime": "2099-01-01T00:00:00Z"]
            )
            #expect(both.status == 400)
            let bad = try await authz.admin.put("/v1/acl/token", json: ["ExpirationTTL": "soon"])
            #expect(bad.status == 400)
            #expect(bad.text.contains("ExpirationTTL"))

            let created = try await authz.admin.put("/v1/acl/token", json: ["ExpirationTTL": "10m"])
            #expect(created.status == 200)
            let text = try #require(created.object["ExpirationTime"] as? String)
            let expiry = try #require(
                try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
            )
            #expect(abs(expiry.timeIntervalSinceNow - 600) < 30)
        }
    }

    @Test("an expired token stops resolving, and the leader deletes it")
    func expiry() async throws {
        try await withAuthz { authz in
            let created = try await authz.admin.put(
                "/v1/acl/token",
                json: ["ExpirationTTL": "10m", "Policies": [["Name": "global-management"]]]
            )
            let secret = try #require(created.object["SecretID"] as? String)
            let accessor = try #require(created.object["AccessorID"] as? String)
            let holder = authz.admin.with(token: secret)
            #expect(try await holder.get("/v1/acl/tokens").status == 200)

            // Move the expiry into the past, as the passing of time would.
            let client = PostgresClient(
                configuration: try authz.database.clientConfiguration(),
                backgroundLogger: testLogger
            )
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                try await client.query(
                    "UPDATE authz.tokens SET expiration_time = now() - interval '1 second' WHERE accessor_id = \(accessor)",
                    logger: testLogger
                )
                group.cancelAll()
            }
            // The gate's cached entry carries the old expiry; any ACL change clears it.
            #expect(try await authz.admin.put("/v1/acl/policy", json: ["Name": "nudge"]).status == 200)
            try await eventually("the expired token to be refused") {
                try await holder.get("/v1/acl/tokens").status == 403
            }
            try await eventually("the leader to delete the expired token") {
                let list = try await authz.admin.get("/v1/acl/tokens")
                let read = try await authz.admin.get("/v1/acl/token/\(accessor)")
                return !list.array.contains { $0["AccessorID"] as? String == accessor } && read.status == 403
            }
        }
    }
}
