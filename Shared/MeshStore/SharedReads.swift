public import MeshCore
import Synchronization

/// Single-flight reads: identical reads started at the same change-feed position share one
/// database round trip, so a thousand watchers of one service woken by one registration cost one
/// read, not a thousand.
///
/// A reader only joins a read that began at its own mark, so it never gets a result older than
/// the change that woke it. Pass `read(_:at:_:)` as the body of `ChangeFeed.blockingRead`.
public final class SharedReads<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private typealias Outcome = Result<Indexed<Value>, any Error>

    private struct Flight {
        var mark: ChangeMark
        var waiters: [CheckedContinuation<Outcome?, Never>]
    }

    private let flights = Mutex<[Key: Flight]>([:])

    public init() {}

    /// Readers waiting for another's read now (for tests).
    var followers: Int {
        self.flights.withLock { $0.values.reduce(0) { $0 + $1.waiters.count } }
    }

    /// Runs `read`, or joins an identical one (same `key`) that started at `mark`.
    public func read(
        _ key: Key,
        at mark: ChangeMark,
        _ read: () async throws -> Indexed<Value>
    ) async throws -> Indexed<Value> {
        while true {
            // Decide under the lock whether to lead or to follow; a follower parks its continuation.
            let joined: Outcome? = await withCheckedContinuation { continuation in
                let follows = self.flights.withLock { flights -> Bool in
                    if var flight = flights[key], flight.mark == mark {
                        flight.waiters.append(continuation)
                        flights[key] = flight
                        return true
                    }
                    if flights[key] == nil { flights[key] = Flight(mark: mark, waiters: []) }
                    return false
                }
                if !follows { continuation.resume(returning: nil) }
            }
            if let joined {
                // The leader was cancelled, this reader was not: read again (perhaps as leader).
                if case .failure(let error) = joined, error is CancellationError, !Task.isCancelled { continue }
                return try joined.get()
            }
            let outcome: Outcome
            do {
                outcome = .success(try await read())
            } catch {
                outcome = .failure(error)
            }
            let waiters = self.flights.withLock { flights -> [CheckedContinuation<Outcome?, Never>] in
                guard let flight = flights[key], flight.mark == mark else { return [] }
                flights[key] = nil
                return flight.waiters
            }
            for waiter in waiters { waiter.resume(returning: outcome) }
            return try outcome.get()
        }
    }
}
