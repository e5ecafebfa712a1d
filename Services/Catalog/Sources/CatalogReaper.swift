import Logging
import MeshStore
import PostgresNIO

/// The leader's singleton work: turning expired TTL checks critical, removing instances that
/// stayed critical past `DeregisterCriticalServiceAfter`, ending sessions whose TTL lapsed, and
/// collecting old tombstones.
///
/// Runs only during a leader term, and writes only over the leader's session, so a replica that
/// lost its session cannot reap.
struct CatalogReaper: Sendable {
    let store: CatalogStore
    let config: CatalogConfig
    let logger: Logger

    func runTerm(on session: PostgresConnection) async throws {
        var lastGC = ContinuousClock.now
        while !Task.isCancelled {
            _ = try await self.store.reapExpired(on: session)
            try await self.store.expireSessions(on: session)
            if ContinuousClock.now - lastGC > .seconds(60) {
                try await self.store.collectTombstones(olderThan: self.config.tombstoneTTL, on: session)
                lastGC = ContinuousClock.now
            }
            // Sleep until the next TTL deadline, but no longer than the sweep interval.
            var pause = self.config.reapInterval
            if let next = try await self.store.nextDeadline(on: session) {
                pause = min(pause, max(next + .milliseconds(5), .milliseconds(20)))
            }
            try await Task.sleep(for: pause)
        }
    }
}
