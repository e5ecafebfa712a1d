import Synchronization

/// The probes of the local services' HTTP and TCP checks: each runs as a child task of ``run()``
/// (which lives as long as the local agent API), started and stopped one by one by check ID.
final class ProbeSet: Sendable {
    private struct Start: Sendable {
        let stop: AsyncStream<Never>
        let work: @Sendable () async -> Void
    }

    private let starts: AsyncStream<Start>
    private let startContinuation: AsyncStream<Start>.Continuation
    /// Finishing a probe's stream stops it.
    private let running = Mutex<[String: AsyncStream<Never>.Continuation]>([:])

    init() {
        (self.starts, self.startContinuation) = AsyncStream.makeStream()
    }

    /// Starts `work` as probe `id`, stopping the probe that had that ID.
    func start(_ id: String, _ work: @escaping @Sendable () async -> Void) {
        let (stop, continuation) = AsyncStream<Never>.makeStream()
        self.running.withLock { $0.updateValue(continuation, forKey: id) }?.finish()
        self.startContinuation.yield(Start(stop: stop, work: work))
    }

    /// Stops probe `id` (its task is cancelled), if it runs.
    func stop(_ id: String) {
        self.running.withLock { $0.removeValue(forKey: id) }?.finish()
    }

    /// Number of probes started and not stopped.
    var count: Int { self.running.withLock { $0.count } }

    /// Runs the probes until cancelled; then cancels them all and returns once they have ended.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await start in self.starts {
                group.addTask {
                    await withDiscardingTaskGroup { probe in
                        probe.addTask { await start.work() }
                        for await _ in start.stop {}
                        probe.cancelAll()
                    }
                }
            }
        }
    }
}
