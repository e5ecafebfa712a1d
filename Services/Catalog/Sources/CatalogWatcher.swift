import MeshCore
import MeshStore
import Synchronization

/// Answers blocking queries: reads, and if the result has not moved past the caller's index,
/// waits for a change of the query's topic (or the deadline) and reads again.
///
/// Identical reads started from the same change-feed position share one database round trip,
/// so a thousand watchers of one service woken by one registration cost one read, not a thousand.
/// A watcher only joins a read that began after its own mark, so it never gets a result older
/// than the change that woke it.
final class CatalogWatcher: Sendable {
    let store: CatalogStore
    let feed: ChangeFeed
    /// While a write below a result's index is still in flight, re-read after this long.
    let unsettledRetry: Duration
    private let flights = Mutex<[String: Flight]>([:])

    init(store: CatalogStore, unsettledRetry: Duration = .milliseconds(20)) {
        self.store = store
        self.feed = store.feed
        self.unsettledRetry = unsettledRetry
    }

    /// The query's result once its index is above `blocking.minIndex`, or the current result at the deadline.
    func read(_ query: CatalogQuery, blocking: BlockingQuery) async throws -> CatalogRead<CatalogResult> {
        let deadline = ContinuousClock.now + blocking.maxWait
        while true {
            let mark = self.feed.mark([query.topic])
            let result = try await self.sharedRead(query, mark: mark)
            if !blocking.isBlocking || (result.index > blocking.minIndex && result.settled) {
                return result
            }
            if ContinuousClock.now >= deadline { return result }
            if !result.settled && result.index <= blocking.minIndex {
                // A write below this result's index has not finished yet: look again shortly.
                let retryAt = min(deadline, ContinuousClock.now + self.unsettledRetry)
                _ = await self.feed.wait(beyond: mark, until: retryAt)
                continue
            }
            if result.index > blocking.minIndex { return result }
            let changed = await self.feed.wait(beyond: mark, until: deadline)
            try Task.checkCancellation()
            if !changed { return try await self.sharedRead(query, mark: self.feed.mark([query.topic])) }
        }
    }

    private struct Flight {
        var mark: ChangeMark
        var waiters: [CheckedContinuation<Result<CatalogRead<CatalogResult>, any Error>?, Never>]
    }

    /// Runs the read, or joins an identical one that started at the same feed position.
    private func sharedRead(_ query: CatalogQuery, mark: ChangeMark) async throws -> CatalogRead<CatalogResult> {
        let key = query.key
        enum Role {
            case leader
            case follower
        }
        while true {
            // Decide under the lock whether to lead or to follow; a follower parks its continuation.
            let outcome: Result<CatalogRead<CatalogResult>, any Error>? = await withCheckedContinuation {
                continuation in
                let role = self.flights.withLock { flights -> Role in
                    if var flight = flights[key], flight.mark == mark {
                        flight.waiters.append(continuation)
                        flights[key] = flight
                        return .follower
                    }
                    if flights[key] == nil {
                        flights[key] = Flight(mark: mark, waiters: [])
                        return .leader
                    }
                    return .leader
                }
                if case .leader = role { continuation.resume(returning: nil) }
            }
            if let outcome {
                if case .failure(let error) = outcome, error is CancellationError, !Task.isCancelled { continue }
                return try outcome.get()
            }
            let result: Result<CatalogRead<CatalogResult>, any Error>
            do {
                result = .success(try await self.store.read(query))
            } catch {
                result = .failure(error)
            }
            let waiters = self.flights.withLock {
                flights -> [CheckedContinuation<Result<CatalogRead<CatalogResult>, any Error>?, Never>] in
                guard let flight = flights[key], flight.mark == mark else { return [] }
                flights[key] = nil
                return flight.waiters
            }
            for waiter in waiters { waiter.resume(returning: result) }
            return try result.get()
        }
    }
}
