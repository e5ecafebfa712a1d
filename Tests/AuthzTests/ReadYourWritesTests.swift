import ControlPlaneHarness
import Foundation
import MeshCore
import MeshServer
import MeshStore
import MeshTesting
import PostgresNIO
import Testing

@testable import Authz

@Suite("authz-svc caches follow its own writes")
struct ReadYourWritesTests {
    /// A read right after a write on the same replica must see it, before any follower has run:
    /// the legacy create followed by a read by ID failed once in CI (404) when the cache was
    /// only dropped by the asynchronous topic follower.
    @Test("reads follow this replica's writes at once, with no follower running")
    func readYourWrites() async throws {
        try await withAuthz { authz in
            try await withStoreAccess(authz.database, schema: AuthzMigrations.schema, logger: testLogger) {
                client,
                feed in
                let store = AuthzStore(client: client, feed: feed, logger: testLogger)
                let cache = IntentionsCache(store: store)
                #expect(try await cache.current().intentions.isEmpty)
                let id = try await store.createIntention(
                    Intention(sourceName: "web", destinationName: "db", action: .allow)
                )
                #expect(try await cache.current().intentions.map(\.id) == [id])
                _ = try await store.deleteIntention(id: id)
                #expect(try await cache.current().intentions.isEmpty)
            }
        }
    }

    /// The same for token resolution on authz-svc itself: a token changed here is resolved anew
    /// by the next request, even before the change feed's follower has dropped the cache.
    @Test("authz-svc's own gate sees a token's new policy at once, with no follower running")
    func gateFollowsWrites() async throws {
        try await withAuthz { authz in
            let policy = try await authz.admin.put(
                "/v1/acl/policy",
                json: ["Name": "acl-read", "Rules": #"acl = "read""#]
            )
            #expect(policy.status == 200)
            try await withStoreAccess(authz.database, schema: AuthzMigrations.schema, logger: testLogger) {
                client,
                feed in
                let store = AuthzStore(client: client, feed: feed, logger: testLogger)
                let gate = ACLGate(
                    source: StoreTokenSource(store: store),
                    defaultPolicy: .deny,
                    version: { feed.version(of: AuthzStore.aclTopic) }
                )
                var input = TokenInput(
                    accessorID: nil,
                    secretID: nil,
                    description: "t",
                    policies: [],
                    roles: [],
                    serviceIdentities: [ACLServiceIdentity(serviceName: "web", datacenters: [])],
                    nodeIdentities: [],
                    local: false,
                    authMethod: "",
                    expirationTime: nil
                )
                let token = try await store.createToken(input)
                let secret = try #require(token.secretID)
                #expect(try await !gate.caller(secret: secret).authorizer.aclRead)
                input.policies = [LinkInput(id: nil, name: "acl-read")]
                _ = try await store.updateToken(accessorID: token.accessorID, input)
                #expect(try await gate.caller(secret: secret).authorizer.aclRead)
                try await store.deleteToken(accessorID: token.accessorID)
                await #expect(throws: ACLDenial.notFound) { try await gate.caller(secret: secret) }
            }
        }
    }
}
