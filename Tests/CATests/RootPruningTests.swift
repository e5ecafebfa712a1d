import Foundation
import Logging
import MeshStore
import MeshTLS
import MeshTesting
import PostgresNIO
import Testing

@testable import CA

@Suite("ca-svc root pruning")
struct RootPruningTests {
    @Test("removing an expired rotated-out root moves the roots' index, so watchers see the change")
    func pruneMovesIndex() async throws {
        let kek = KeyEncryptionKey.generate()
        try await withCluster(kek: kek) { cluster in
            let rotated = try await cluster.ca.with(token: managementSecret).put(
                "/v1/connect/ca/configuration",
                json: ["Config": ["ForceRootRotation": true]]
            )
            #expect(rotated.status == 200)
            try await withStoreAccess(cluster.database, schema: CAMigrations.schema, logger: testLogger) {
                client,
                feed in
                let store = CAStore(client: client, feed: feed, kek: kek, logger: testLogger)
                let (before, beforeIndex) = try await CARootsView.read(store)
                #expect(before.roots.count == 2)
                try await client.withConnection { connection in
                    try await store.pruneRoots(olderThan: .zero, on: connection)
                }
                let (after, afterIndex) = try await CARootsView.read(store)
                #expect(after.roots.count == 1)
                #expect(after.roots.first?.active == true)
                #expect(afterIndex > beforeIndex)
            }
        }
    }
}
