import MeshCore
import Testing

@testable import MeshStore

@Suite("Database settings and notification payloads")
struct SettingsTests {
    @Test("a URL wins over libpq's variables, which fill what it leaves out")
    func urlOverEnvironment() throws {
        let environment = ["PGHOST": "db.internal", "PGPORT": "6543", "PGUSER": "mesh", "PGPASSWORD": "from-secrets"]
        let fromEnvironment = try DatabaseSettings.resolve(url: nil, environment: environment)
        #expect(fromEnvironment.host == "db.internal")
        #expect(fromEnvironment.port == 6543)
        #expect(fromEnvironment.password == "from-secrets")
        let fromURL = try DatabaseSettings.resolve(
            url: "postgres://catalog:s%40cret@10.0.0.5:5433/meshdb?sslmode=require",
            environment: environment
        )
        #expect(fromURL.host == "10.0.0.5")
        #expect(fromURL.port == 5433)
        #expect(fromURL.username == "catalog")
        #expect(fromURL.password == "s@cret")
        #expect(fromURL.database == "meshdb")
        #expect(fromURL.sslMode == "require")
        // The description is what logs show: never the password.
        #expect(!fromURL.description.contains("cret"))
    }

    @Test(
        "unusable settings name the flag or variable",
        arguments: [
            (nil as String?, [String: String](), "MESH_DATABASE_URL"),
            ("mysql://x", [:], "MESH_DATABASE_URL"),
            (nil, ["PGHOST": "h", "PGPORT": "http"], "PGPORT"),
            ("postgres://h/db?sslmode=sometimes", [:], "sslmode"),
        ]
    )
    func errors(url: String?, environment: [String: String], setting: String) {
        do {
            _ = try DatabaseSettings.resolve(url: url, environment: environment)
            Issue.record("expected an error")
        } catch {
            #expect(error.setting.contains(setting))
        }
    }

    @Test("notification payloads round-trip, and a long topic list becomes 'everything'")
    func payloads() throws {
        let topics: Set<ChangeTopic> = [ChangeTopic("svc:web"), ChangeTopic("nodes")]
        let decoded = try #require(NotificationPayload.decode(NotificationPayload.encode(topics: topics, index: 42)))
        #expect(decoded.0 == topics)
        #expect(decoded.1 == 42)
        let many = Set((0..<2000).map { ChangeTopic("svc:service-number-\($0)") })
        let long = NotificationPayload.encode(topics: many, index: 7)
        #expect(long.utf8.count < 8000)
        #expect(NotificationPayload.decode(long)?.0 == [ChangeFeed.everything])
        #expect(NotificationPayload.decode("garbage") == nil)
    }

    @Test("lock keys of in-flight writes never collide with control locks")
    func lockKeys() {
        let schema = StoreSchema(name: "catalog", tag: 1)
        for index: Int64 in [1, 2, 3, 1 << 20, (1 << 40) - 1] {
            let inflight = (schema.inflightKeyHigh << 40) | index
            #expect(inflight != schema.leaderLockKey)
            #expect(inflight != schema.migrationLockKey)
        }
    }
}
