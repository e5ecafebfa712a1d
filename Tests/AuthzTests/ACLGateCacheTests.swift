import Foundation
import MeshCore
import MeshServer
import Synchronization
import Testing

/// The ACL cache under a flood of bogus tokens: unknown secrets have their own small budget, so
/// real tokens stay resolved (it was wiped whole past 10,000 entries, making every real token
/// go back to authz-svc).
@Suite("ACL cache eviction")
struct ACLGateCacheTests {
    /// A token source that knows one secret and counts how often it is asked.
    final class CountingSource: TokenSource {
        let lookups = Atomic<Int>(0)

        func resolve(secret: String) async throws -> ResolvedToken? {
            self.lookups.add(1, ordering: .relaxed)
            guard secret == "real" else { return nil }
            return ResolvedToken(
                accessorID: "accessor-real",
                isManagement: false,
                rules: [],
                serviceIdentities: ["web"],
                nodeIdentities: [],
                expirationTime: nil
            )
        }
    }

    @Test("20,000 bogus tokens keep at most 1,024 negative entries and never evict a real token")
    func floodOfBogusTokens() async throws {
        let source = CountingSource()
        let gate = ACLGate(source: source, defaultPolicy: .deny)
        _ = try await gate.caller(secret: "real")
        #expect(source.lookups.load(ordering: .relaxed) == 1)
        for index in 0..<20_000 {
            await #expect(throws: ACLDenial.notFound) { _ = try await gate.caller(secret: "bogus-\(index)") }
        }
        #expect(gate.cachedCount.unknown == 1_024)
        #expect(gate.cachedCount.tokens == 1)
        let before = source.lookups.load(ordering: .relaxed)
        let caller = try await gate.caller(secret: "real")
        #expect(caller.accessorID == "accessor-real")
        // Still cached: no new lookup.
        #expect(source.lookups.load(ordering: .relaxed) == before)
        // A recent bogus token is still answered from the cache.
        await #expect(throws: ACLDenial.notFound) { _ = try await gate.caller(secret: "bogus-19999") }
        #expect(source.lookups.load(ordering: .relaxed) == before)
    }
}
