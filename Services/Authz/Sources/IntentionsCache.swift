import MeshCore
import Synchronization

/// The current intentions as one `IntentionSet`, read once and kept until the intentions topic
/// moves (so `/check` and `/match` cost no query in the steady state).
final class IntentionsCache: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var current: IntentionSet?
    }

    let store: AuthzStore
    private let state = Mutex(State())

    init(store: AuthzStore) {
        self.store = store
    }

    /// The intentions now; a read started before a change is not kept after it.
    func current() async throws -> IntentionSet {
        let (cached, generation) = self.state.withLock { ($0.current, $0.generation) }
        if let cached { return cached }
        let set = IntentionSet(try await self.store.intentions())
        self.state.withLock { state in
            if state.generation == generation { state.current = set }
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
