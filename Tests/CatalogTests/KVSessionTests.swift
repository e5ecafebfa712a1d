import Foundation
import MeshCore
import MeshStore
import MeshTesting
import NIOHTTP1
import PostgresNIO
import Testing

@testable import Catalog

@Suite("KV listings and topics")
struct KVKeysTests {
    @Test("keys under a prefix are cut after the first separator past it, once each, in order")
    func separatorListing() {
        let keys = ["foo/baz/b", "foo/bar", "food", "foo/baz/a", "other"]
        #expect(KVKeys.list(keys, prefix: "foo", separator: "/") == ["foo/", "food"])
        #expect(KVKeys.list(keys, prefix: "foo/", separator: "/") == ["foo/bar", "foo/baz/"])
        #expect(KVKeys.list(keys, prefix: "foo/", separator: nil) == ["foo/bar", "foo/baz/a", "foo/baz/b"])
        #expect(KVKeys.list(keys, prefix: "", separator: "/") == ["foo/", "food", "other"])
        #expect(KVKeys.list(keys, prefix: "foo/", separator: "") == ["foo/bar", "foo/baz/a", "foo/baz/b"])
        #expect(KVKeys.list(keys, prefix: "foo/ba", separator: "z") == ["foo/bar", "foo/baz"])
    }

    @Test("a write announces its key and every prefix ending at a '/'; a read waits on one of them")
    func topics() {
        let topics = KVKeys.topics(of: ["a/b/c"])
        #expect(topics == Set(["kv:a/b/c", "kvp:", "kvp:a/", "kvp:a/b/"].map(ChangeTopic.init)))
        #expect(topics.contains(KVKeys.prefixTopic("a/b/")))
        #expect(topics.contains(KVKeys.prefixTopic("a/b/c")))
        #expect(topics.contains(KVKeys.prefixTopic("a/")))
        #expect(topics.contains(KVKeys.prefixTopic("a")))
        #expect(!KVKeys.topics(of: ["x/y"]).contains(KVKeys.prefixTopic("a/")))
        // Newlines would split a notification line; they travel escaped.
        #expect(KVKeys.keyTopic("a\nb%") == ChangeTopic("kv:a%0Ab%25"))
    }
}

@Suite("Sessions on the control plane's address")
struct SessionParseTests {
    @Test("every field has Consul's default; a number below 1000 as LockDelay counts in seconds")
    func defaults() throws {
        let session = try Session.parse(nil, id: "s", defaultNode: "n1")
        #expect(session.node == "n1")
        #expect(session.nodeChecks == ["serfHealth"])
        #expect(session.behavior == .release)
        #expect(session.lockDelay == .seconds(15))
        #expect(session.ttl == "")
        let numeric = try Session.parse(.object(["LockDelay": .number(5)]), id: "s", defaultNode: "n1")
        #expect(numeric.lockDelay == .seconds(5))
        let text = try Session.parse(.object(["lockdelay": .string("250ms")]), id: "s", defaultNode: "n1")
        #expect(text.lockDelay == .milliseconds(250))
        let none = try Session.parse(.object(["Checks": .array([])]), id: "s", defaultNode: "n1")
        #expect(none.nodeChecks.isEmpty)
    }

    @Test("without a node, a session needs a TTL and may name no checks")
    func nodeless() throws {
        #expect(throws: CatalogError.self) { try Session.parse(nil, id: "s", defaultNode: "") }
        #expect(throws: CatalogError.self) {
            try Session.parse(
                .object(["TTL": .string("15s"), "NodeChecks": .array([.string("c")])]),
                id: "s",
                defaultNode: ""
            )
        }
        let session = try Session.parse(.object(["TTL": .string("15s")]), id: "s", defaultNode: "")
        #expect(session.node == "" && session.nodeChecks.isEmpty && session.ttlDuration == .seconds(15))
    }

    @Test("a TTL outside 10s to 24h and an unknown behavior are refused with Consul's words")
    func refusals() {
        for (body, message) in [
            (["TTL": JSONValue.string("9s")], "Invalid Session TTL '9000000000', must be between [10s=24h0m0s]"),
            (["TTL": .string("soon")], "Session TTL 'soon' invalid"),
            (["Behavior": .string("explode")], "Invalid Behavior setting 'explode'"),
        ] {
            #expect {
                try Session.parse(.object(body), id: "s", defaultNode: "n1")
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }
}

@Suite("KV and sessions in catalog-svc")
struct KVSessionStoreTests {
    @Test("catalog.kv_topics (the trigger's) names the topics KVKeys does")
    func sqlTopicsAgree() async throws {
        let database = try await TestDatabase.fresh()
        try await withReplica(database: database) { _ in
            try await withStoreAccess(database, schema: CatalogMigrations.schema, logger: testLogger) { client, _ in
                let keys = ["a/b/c", "plain", "dir/", "odd%key\nwith/newline", ""]
                let rows = try await client.query("SELECT catalog.kv_topics(\(keys))", logger: testLogger)
                for try await topics in rows.decode([String].self) {
                    #expect(Set(topics.map(ChangeTopic.init)) == KVKeys.topics(of: keys))
                }
            }
        }
    }

    @Test("on the control plane's address a session without Node has no node and needs a TTL")
    func nodelessOnControlPlane() async throws {
        try await withCatalogServer { replica in
            let api = API(replica.http)
            let refused = try await api.call(.PUT, "/v1/session/create")
            #expect(refused.status == 400)
            #expect(refused.text.contains("needs a TTL"))
            #expect(try await api.get("/v1/session/list").array.isEmpty)
            let created = try await api.put("/v1/session/create", json: ["TTL": "10s", "Name": "vault"])
            let id = try #require(created.object["ID"] as? String)
            let info = try await api.get("/v1/session/info/\(id)").array
            #expect(info.first?["Node"] as? String == "")
            #expect(info.first?["NodeChecks"] as? [String] == [])
        }
    }

    @Test("the leader ends a session whose TTL lapsed: its lock is released and a reader of the key wakes")
    func ttlLapse() async throws {
        let database = try await TestDatabase.fresh()
        try await withReplica(database: database) { replica in
            let api = API(replica.http)
            let id = try #require(
                try await api.put("/v1/session/create", json: ["TTL": "10s", "LockDelay": "0s"]).object["ID"] as? String
            )
            #expect(try await api.put("/v1/kv/leader?acquire=\(id)", text: "me").json as? Bool == true)
            let index = try #require(try await api.get("/v1/kv/leader").index)
            try await withStoreAccess(database, schema: CatalogMigrations.schema, logger: testLogger) { client, _ in
                // Renewal restarts the TTL at twice its length, as in Consul.
                _ = try await api.call(.PUT, "/v1/session/renew/\(id)")
                let rows = try await client.query(
                    """
                    SELECT (EXTRACT(EPOCH FROM ttl_deadline - now()))::float8 FROM catalog.sessions WHERE id = \(id)
                    """,
                    logger: testLogger
                )
                for try await seconds in rows.decode(Double.self) { #expect(seconds > 19 && seconds <= 20) }
                // Time passes: the deadline is now.
                try await client.query(
                    "UPDATE catalog.sessions SET ttl_deadline = now() WHERE id = \(id)",
                    logger: testLogger
                )
            }
            let woken = try await api.get("/v1/kv/leader?index=\(index)&wait=30s")
            #expect(woken.index! > index)
            #expect(woken.array.first?["Session"] == nil)
            #expect(woken.array.first?["LockIndex"] as? Int == 1)
            #expect(try await api.get("/v1/session/info/\(id)").array.isEmpty)
            #expect(try await api.call(.PUT, "/v1/session/renew/\(id)").status == 404)
        }
    }

    @Test("deregistering a node ends its sessions; Behavior delete removes what they held")
    func nodeGone() async throws {
        try await withCatalogServer { replica in
            let api = API(replica.http)
            try await api.register(instance(node: "n1", service: "web"))
            let id = try #require(
                try await api.put("/v1/session/create", json: ["Node": "n1", "Behavior": "delete"])
                    .object["ID"] as? String
            )
            #expect(try await api.put("/v1/kv/ephemeral/n1?acquire=\(id)", text: "here").json as? Bool == true)
            let index = try #require(try await api.get("/v1/session/list").index)
            #expect(try await api.put("/v1/catalog/deregister", json: ["Node": "n1"]).status == 200)
            let sessions = try await api.get("/v1/session/list?index=\(index)&wait=30s")
            #expect(sessions.array.isEmpty)
            #expect(sessions.index! > index)
            #expect(try await api.get("/v1/kv/ephemeral/n1").status == 404)
        }
    }
}
