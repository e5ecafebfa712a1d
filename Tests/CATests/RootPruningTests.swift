import Foundation
import Logging
import MeshCore
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
                let read = try await CARootsView.read(store)
                let (before, beforeIndex) = (read.value, read.index)
                #expect(before.roots.count == 2)
                try await client.withConnection { connection in
                    try await store.pruneRoots(olderThan: .zero, on: connection)
                }
                let reread = try await CARootsView.read(store)
                let (after, afterIndex) = (reread.value, reread.index)
                #expect(after.roots.count == 1)
                #expect(after.roots.first?.active == true)
                #expect(afterIndex > beforeIndex)
            }
        }
    }
}
