import MeshCore
import MeshStore
import Synchronization

/// The current intentions as one `IntentionSet`, read once and kept until the intentions topic
/// moves (so `/check` and `/match` cost no query in the steady state).
///
/// The set is kept with the topic's version in the change feed it was read at: a write on this
/// replica moves the version before it returns, so a read right after it sees it (read your
/// writes); other replicas' writes arrive through the feed.
final class IntentionsCache: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var current: (set: IntentionSet, version: UInt64)?
    }

    let store: AuthzStore
    private let state = Mutex(State())

    init(store: AuthzStore) {
        self.store = store
    }

    /// The intentions now; a read started before a change is not kept after it.
    func current() async throws -> IntentionSet {
        let version = self.store.feed.version(of: AuthzStore.intentionsTopic)
        let (cached, generation) = self.state.withLock { ($0.current, $0.generation) }
        if let cached, cached.version == version { return cached.set }
        let set = IntentionSet(try await self.store.intentions())
        self.state.withLock { state in
            if state.generation == generation { state.current = (set, version) }
        }
        return set
    }

    /// Drops the cached set; called on every intentions change.
    func invalidate() {
        self.state.withLock { state in
            state.generation &+= 1
            state.current = nil
        }
    }
}
