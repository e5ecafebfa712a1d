public import Logging
public import ServiceLifecycle

/// Awaits `condition` with a generous deadline, so that a hang fails the test instead of
/// blocking it. For conditions no event announces (another process's state, say).
public func eventually(
    within limit: Duration = .seconds(10),
    _ what: String,
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// Runs `services` in one group (a pool before its server), waits for `ready`, runs `body`, then
/// shuts the group down gracefully and waits for every service to finish, as a task stops.
public func withRunning<T: Sendable>(
    _ services: [any Service],
    logger: Logger,
    ready: @Sendable () async -> Bool,
    _ body: @Sendable () async throws -> T
) async throws -> T {
    let lifecycle = ServiceGroup(configuration: .init(services: services, logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await lifecycle.run() }
        let result: Result<T, any Error>
        do {
            guard await ready() else { throw TestFailure("a service failed to start") }
            result = .success(try await body())
        } catch {
            result = .failure(error)
        }
        await lifecycle.triggerGracefulShutdown()
        try await group.waitForAll()
        return try result.get()
    }
}
