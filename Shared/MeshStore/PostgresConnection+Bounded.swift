public import Logging
public import PostgresNIO
import Synchronization

/// A PostgreSQL operation did not finish in time.
public struct PostgresTimeout: Error, CustomStringConvertible {
    public let operation: String
    public let timeout: Duration
    public var description: String { "PostgreSQL did not finish \(self.operation) within \(self.timeout)" }
}

extension PostgresConnection {
    /// Connects with the whole startup (TCP, TLS, authentication) bounded by `timeout`, and
    /// returns at once when the task is cancelled.
    ///
    /// PostgresNIO bounds only the TCP connect: a server that accepted the connection but never
    /// answered its startup held the caller forever. The attempt left behind is closed if it
    /// ever succeeds.
    public static func connect(
        bounded configuration: Configuration,
        id: ID,
        timeout: Duration = .seconds(10),
        logger: Logger
    ) async throws -> PostgresConnection {
        try await abandoning(
            "the connection's startup",
            after: timeout,
            { try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger) },
            lateResult: { connection in try? await connection.close() }
        )
    }
}

/// Runs `operation` in a task of its own and returns its result; throws ``PostgresTimeout`` at
/// `timeout` (none: no deadline), or `CancellationError` as soon as the caller is cancelled,
/// leaving the operation behind, cancelled (`lateResult` gets what it returns after that, to
/// close it).
///
/// For the PostgresNIO calls that neither end on cancellation nor always end at all: a query in
/// flight on a connection that closes (PostgreSQL shutting down, or the caller closing it) did
/// not always complete, even after the connection was closed. It held a replica's leader
/// election, and so its graceful shutdown, until the replica was killed.
public func abandoning<T: Sendable>(
    _ operation: String,
    after timeout: Duration?,
    _ body: @escaping @Sendable () async throws -> T,
    lateResult: @escaping @Sendable (T) async -> Void = { _ in }
) async throws -> T {
    let race = Race<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            guard race.begin(continuation) else { return }
            let timer = timeout.map { timeout in
                Task {
                    try? await Task.sleep(for: timeout)
                    if !Task.isCancelled, race.finish(.failure(PostgresTimeout(operation: operation, timeout: timeout)))
                    {
                        race.cancelWork()
                    }
                }
            }
            let task = Task {
                do {
                    let value = try await body()
                    timer?.cancel()
                    if !race.finish(.success(value)) { await lateResult(value) }
                } catch {
                    timer?.cancel()
                    race.finish(.failure(error))
                }
            }
            race.setWork(task)
        }
    } onCancel: {
        if race.finish(.failure(CancellationError())) { race.cancelWork() }
    }
}

/// An operation against its deadline and its caller's cancellation: the first to finish resumes
/// the caller, once.
private final class Race<T: Sendable>: Sendable {
    private enum State {
        case waiting
        case running(CheckedContinuation<T, any Error>)
        case done
    }

    private let state = Mutex(State.waiting)

    /// False when it already ended (cancelled before it began): the continuation was resumed.
    func begin(_ continuation: CheckedContinuation<T, any Error>) -> Bool {
        let ended = self.state.withLock { state -> Bool in
            guard case .waiting = state else { return true }
            state = .running(continuation)
            return false
        }
        if ended { continuation.resume(throwing: CancellationError()) }
        return !ended
    }

    /// The operation's task, cancelled when it is left behind.
    private let work = Mutex<Task<Void, Never>?>(nil)

    /// Records the operation's task; cancels it at once if the caller was already resumed by a
    /// deadline or a cancellation meanwhile.
    func setWork(_ task: Task<Void, Never>) {
        self.work.withLock { $0 = task }
        let ended = self.state.withLock { state in
            if case .done = state { return true }
            return false
        }
        if ended { task.cancel() }
    }

    func cancelWork() {
        self.work.withLock { $0 }?.cancel()
    }

    /// Resumes the caller with `result` unless something else did first; whether it did.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let continuation = self.state.withLock { state -> CheckedContinuation<T, any Error>? in
            switch state {
            case .waiting:
                state = .done
                return nil
            case .running(let continuation):
                state = .done
                return continuation
            case .done:
                return nil
            }
        }
        continuation?.resume(with: result)
        return continuation != nil
    }
}
