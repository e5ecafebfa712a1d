public import Logging
import MeshCore
import Metrics
public import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// Tells this process's watchers when a schema changed, whichever replica wrote.
///
/// - Writers call `publish(_:index:)` after their transaction committed. Local watchers wake
///   at once; the topics are queued and sent as one coalesced `NOTIFY` by a single sender, so
///   no write transaction ever takes PostgreSQL's notification lock (a `NOTIFY` inside every
///   write serializes commits).
/// - One dedicated connection `LISTEN`s and wakes the watchers of the topics it hears about.
/// - Correctness never depends on a notification arriving: watchers re-read from their index,
///   and a slow periodic check of the stable index wakes everyone when the schema moved without
///   a notification (a writer crashed between commit and notify, a lost connection).
public final class ChangeFeed: Sendable {
    /// Topic that every watcher follows implicitly.
    public static let everything = ChangeTopic("*")

    let schema: StoreSchema
    let client: PostgresClient
    let settings: DatabaseSettings
    let logger: Logger
    let safetyInterval: Duration
    let coalesceWindow: Duration
    let applicationName: String
    private let state: Mutex<State>
    private let firstListen = Rendezvous<Bool>()
    private let waitersGauge: Gauge

    /// - Parameters:
    ///   - safetyInterval: how often the stable index is checked for changes no notification announced.
    ///   - coalesceWindow: the shortest time between two `NOTIFY`s of the sender (changes
    ///     meanwhile gather into the next one).
    ///   - applicationName: shown in `pg_stat_activity` for the listening connection, which is
    ///     how replicas find each other (`/v1/status/peers`).
    ///   - topicLimit: how many topics' versions are kept (one per node and service name ever
    ///     written); past it, the versions of topics nobody waits on are forgotten.
    public init(
        schema: StoreSchema,
        client: PostgresClient,
        settings: DatabaseSettings,
        applicationName: String,
        safetyInterval: Duration = .seconds(10),
        coalesceWindow: Duration = .milliseconds(10),
        topicLimit: Int = 10_000,
        logger: Logger
    ) {
        self.state = Mutex(State(topicLimit: topicLimit))
        self.coalesceWindow = coalesceWindow
        self.schema = schema
        self.client = client
        self.settings = settings
        self.applicationName = applicationName
        self.safetyInterval = safetyInterval
        self.logger = logger
        self.waitersGauge = Gauge(label: "mesh_change_feed_waiters", dimensions: [("schema", schema.name)])
    }

    /// The current versions of `topics`.
    public func mark(_ topics: [ChangeTopic]) -> ChangeMark {
        self.state.withLock { $0.mark(topics) }
    }

    /// A value that moves with every change of `topic` seen here (and with every wake-all or
    /// forgetting of versions). A cache remembers the value it read at and is stale once it
    /// moves: on the replica that wrote, that is at once (its own writes are published before
    /// they return), so its reads follow its writes.
    public func version(of topic: ChangeTopic) -> UInt64 {
        self.state.withLock { ($0.global << 32) ^ ($0.versions[topic] ?? 0) }
    }

    /// How many topics' versions are kept now (for tests).
    var topicCount: Int {
        self.state.withLock { $0.versions.count }
    }

    /// Waits until one of the marked topics changes past `mark`, or until `deadline`.
    ///
    /// Returns true on a change, false on timeout. Returns at once if the change already
    /// happened. Cancellation ends the wait (returning false).
    public func wait(beyond mark: ChangeMark, until deadline: ContinuousClock.Instant) async -> Bool {
        let id = self.state.withLock { $0.nextWaiterID() }
        self.waitersGauge.record(
            self.state.withLock {
                $0.activeWaits += 1; return $0.activeWaits
            }
        )
        defer {
            self.waitersGauge.record(
                self.state.withLock {
                    $0.activeWaits -= 1; return $0.activeWaits
                }
            )
        }
        return await withTaskCancellationHandler {
            await withTaskGroup(of: Bool?.self) { group in
                group.addTask {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                        let resumeNow = self.state.withLock { $0.addWaiter(id, mark: mark, continuation: continuation) }
                        if let resumeNow { continuation.resume(returning: resumeNow) }
                    }
                }
                group.addTask {
                    try? await Task.sleep(until: deadline, clock: .continuous)
                    return nil
                }
                let first = await group.next() ?? nil
                if first == nil {
                    // Timed out or cancelled: release the waiter, then collect its result.
                    self.state.withLock { $0.abandonWaiter(id)?.resume(returning: false) }
                }
                group.cancelAll()
                var changed = first ?? false
                while let next = await group.next() {
                    if let next { changed = changed || next }
                }
                self.state.withLock { _ = $0.abandoned.remove(id) }
                return changed
            }
        } onCancel: {
            self.state.withLock { $0.abandonWaiter(id)?.resume(returning: false) }
        }
    }

    /// Announces a committed change: wakes local watchers of `topics` and queues a notification
    /// for the other replicas.
    public func publish(_ topics: Set<ChangeTopic>, index: ModifyIndexValue) {
        guard !topics.isEmpty else { return }
        let (waiters, sender) = self.state.withLock { state in
            let woken = state.bump(topics, index: index)
            let sender = state.enqueue(topics, index: index)
            return (woken, sender)
        }
        for waiter in waiters { waiter.resume(returning: true) }
        sender?.resume()
    }

    /// Wakes every watcher (used when notifications may have been missed).
    public func wakeAll(reason: String) {
        self.logger.debug("waking all watchers", metadata: [LogKey.reason: "\(reason)"])
        let waiters = self.state.withLock { $0.bump([Self.everything], index: 0) }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// Whether the LISTEN connection is up (part of readiness: without it, watchers only learn
    /// of other replicas' writes from the periodic check).
    public var isListening: Bool {
        self.state.withLock { $0.listening }
    }

    /// Returns once the LISTEN connection has been established for the first time.
    public func waitUntilListening() async {
        _ = await self.firstListen.value
    }

    /// Whether the feed has stopped (shutdown): waits return at once, so watch loops end.
    public var isClosed: Bool {
        self.state.withLock { $0.closed }
    }

    /// The number of watchers waiting now (for metrics and tests).
    public var waiterCount: Int {
        self.state.withLock { $0.waiters.count }
    }
}

/// Index values as stored (a PostgreSQL bigint).
public typealias ModifyIndexValue = UInt64

extension ChangeFeed: Service {
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.listenLoop() }
            group.addTask { await self.sendLoop() }
            group.addTask { await self.safetyLoop() }
            // Returns on graceful shutdown (or throws on cancellation): either way, stop.
            try? await gracefulShutdown()
            group.cancelAll()
            let (waiters, sender, connection) = self.state.withLock { state in
                (state.closeAll(), state.takeSender(), state.listenConnection)
            }
            for waiter in waiters { waiter.resume(returning: false) }
            sender?.resume()
            try? await connection?.close()
        }
    }

    /// Holds the LISTEN connection, reconnecting with backoff; wakes everyone after a reconnect,
    /// since notifications may have been missed while it was down.
    private func listenLoop() async {
        var backoff = Duration.milliseconds(100)
        var first = true
        while !Task.isCancelled {
            do {
                var configuration = try self.settings.connectionConfiguration()
                configuration.options.additionalStartupParameters = [("application_name", self.applicationName)]
                let connection = try await PostgresConnection.connect(
                    bounded: configuration,
                    id: 0,
                    logger: self.logger
                )
                let closed = self.state.withLock { state in
                    state.listenConnection = connection
                    return state.closed
                }
                if closed {
                    try? await connection.close()
                    return
                }
                do {
                    try await connection.listen(on: self.schema.channel) { notifications in
                        if !first { self.wakeAll(reason: "listen connection restored") }
                        first = false
                        backoff = .milliseconds(100)
                        self.state.withLock { $0.listening = true }
                        self.firstListen.fulfill(true)
                        for try await notification in notifications {
                            self.receive(notification.payload)
                        }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
                self.state.withLock { $0.listening = false }
            } catch {
                self.state.withLock { $0.listening = false }
                if Task.isCancelled { return }
                self.logger.warning(
                    "change feed listen connection failed",
                    metadata: [LogKey.error: "\(String(reflecting: error))"]
                )
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    /// Sends queued changes as one NOTIFY at a time, at most one per `coalesceWindow`; changes
    /// queued meanwhile coalesce. After a quiet window the first change goes out at once.
    private func sendLoop() async {
        var lastSent: ContinuousClock.Instant?
        while !Task.isCancelled {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = self.state.withLock { $0.waitForPending(continuation) }
                if ready { continuation.resume() }
            }
            if self.state.withLock({ $0.closed }) { return }
            // Under a stream of commits, let them gather into one notification per window
            // (other replicas hear of a change at most this much later; local watchers were
            // woken at publish). Each NOTIFY is a transaction of its own that PostgreSQL
            // delivers to every replica: at 2 ms they cost a tenth of the KV write rate.
            if let lastSent {
                let since = ContinuousClock.now - lastSent
                if since < self.coalesceWindow { try? await Task.sleep(for: self.coalesceWindow - since) }
            }
            lastSent = .now
            guard !Task.isCancelled, let batch = self.state.withLock({ $0.takePending() }) else { continue }
            let payload = NotificationPayload.encode(topics: batch.topics, index: batch.index)
            do {
                try await self.client.query(
                    "SELECT pg_notify(\(self.schema.channel), \(payload))",
                    logger: self.logger
                )
            } catch {
                // The other replicas fall back on their periodic check.
                self.logger.warning(
                    "change notification failed",
                    metadata: [LogKey.error: "\(String(reflecting: error))"]
                )
            }
        }
    }

    /// Every `safetyInterval`, wakes everyone if the stable index moved since the last look and
    /// beyond every index announced meanwhile.
    private func safetyLoop() async {
        var lastSeen: UInt64 = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: self.safetyInterval)
            if Task.isCancelled { return }
            do {
                let stable = try await self.client.stableIndex(of: self.schema, logger: self.logger)
                let announced = self.state.withLock { $0.highestAnnounced }
                if lastSeen != 0 && stable > lastSeen && stable > announced {
                    self.wakeAll(reason: "stable index moved without notification")
                }
                lastSeen = stable
                self.state.withLock { $0.highestAnnounced = max($0.highestAnnounced, stable) }
            } catch {
                self.logger.debug("periodic index check failed", metadata: [LogKey.error: "\(error)"])
            }
        }
    }

    private func receive(_ payload: String) {
        guard let (topics, index) = NotificationPayload.decode(payload) else {
            self.wakeAll(reason: "unreadable notification")
            return
        }
        let waiters = self.state.withLock { $0.bump(topics, index: index) }
        for waiter in waiters { waiter.resume(returning: true) }
    }
}

extension ChangeFeed {
    struct Waiter {
        var mark: ChangeMark
        var continuation: CheckedContinuation<Bool, Never>
    }

    struct State {
        let topicLimit: Int
        var global: UInt64 = 0
        var versions: [ChangeTopic: UInt64] = [:]
        var waiters: [UInt64: Waiter] = [:]
        var waitersByTopic: [ChangeTopic: Set<UInt64>] = [:]
        var lastWaiterID: UInt64 = 0
        /// Calls of `wait` in progress (for the waiters gauge).
        var activeWaits = 0
        var abandoned: Set<UInt64> = []
        var pendingTopics: Set<ChangeTopic> = []
        var pendingIndex: UInt64 = 0
        var senderWaiting: CheckedContinuation<Void, Never>?
        var highestAnnounced: UInt64 = 0
        var listening = false
        var closed = false
        var listenConnection: PostgresConnection?

        mutating func takeSender() -> CheckedContinuation<Void, Never>? {
            defer { self.senderWaiting = nil }
            return self.senderWaiting
        }

        func mark(_ topics: [ChangeTopic]) -> ChangeMark {
            var marks: [ChangeTopic: UInt64] = [:]
            for topic in topics { marks[topic] = self.versions[topic] ?? 0 }
            return ChangeMark(global: self.global, topics: marks)
        }

        func changed(since mark: ChangeMark) -> Bool {
            if self.global != mark.global { return true }
            return mark.topics.contains { topic, version in (self.versions[topic] ?? 0) != version }
        }

        mutating func nextWaiterID() -> UInt64 {
            self.lastWaiterID += 1
            return self.lastWaiterID
        }

        /// Registers a waiter; returns a value to resume with at once when it need not wait.
        mutating func addWaiter(
            _ id: UInt64,
            mark: ChangeMark,
            continuation: CheckedContinuation<Bool, Never>
        )
            -> Bool?
        {
            if self.closed || self.abandoned.remove(id) != nil { return false }
            if self.changed(since: mark) { return true }
            self.waiters[id] = Waiter(mark: mark, continuation: continuation)
            for topic in mark.topics.keys { self.waitersByTopic[topic, default: []].insert(id) }
            return nil
        }

        /// Gives up on a waiter (timeout, cancellation): returns its continuation, or remembers the
        /// id when it has not registered yet, so that it returns at once when it does.
        mutating func abandonWaiter(_ id: UInt64) -> CheckedContinuation<Bool, Never>? {
            if let continuation = self.removeWaiter(id) { return continuation }
            self.abandoned.insert(id)
            return nil
        }

        mutating func removeWaiter(_ id: UInt64) -> CheckedContinuation<Bool, Never>? {
            guard let waiter = self.waiters.removeValue(forKey: id) else { return nil }
            for topic in waiter.mark.topics.keys {
                self.waitersByTopic[topic]?.remove(id)
                if self.waitersByTopic[topic]?.isEmpty == true { self.waitersByTopic[topic] = nil }
            }
            return waiter.continuation
        }

        /// Moves the topics' versions on; returns the waiters to wake.
        mutating func bump(_ topics: Set<ChangeTopic>, index: UInt64) -> [CheckedContinuation<Bool, Never>] {
            self.highestAnnounced = max(self.highestAnnounced, index)
            var ids = Set<UInt64>()
            if topics.contains(ChangeFeed.everything) {
                self.global &+= 1
                ids = Set(self.waiters.keys)
            } else {
                for topic in topics {
                    self.versions[topic, default: 0] &+= 1
                    if let waiting = self.waitersByTopic[topic] { ids.formUnion(waiting) }
                }
            }
            let woken = ids.compactMap { self.removeWaiter($0) }
            if self.versions.count > self.topicLimit { self.forgetIdleTopics() }
            return woken
        }

        /// Drops the versions of topics nobody waits on, and moves `global` on: a mark taken
        /// before (whose version of a dropped topic may now read as unchanged) sees a change
        /// instead, and at worst its reader reads once more. Writes to ever new names (nodes,
        /// services) grow the versions no further than the limit.
        mutating func forgetIdleTopics() {
            self.versions = self.versions.filter { self.waitersByTopic[$0.key] != nil }
            self.global &+= 1
        }

        mutating func enqueue(_ topics: Set<ChangeTopic>, index: UInt64) -> CheckedContinuation<Void, Never>? {
            self.pendingTopics.formUnion(topics)
            self.pendingIndex = max(self.pendingIndex, index)
            defer { self.senderWaiting = nil }
            return self.senderWaiting
        }

        mutating func waitForPending(_ continuation: CheckedContinuation<Void, Never>) -> Bool {
            if !self.pendingTopics.isEmpty || self.closed { return true }
            self.senderWaiting = continuation
            return false
        }

        mutating func takePending() -> (topics: Set<ChangeTopic>, index: UInt64)? {
            guard !self.pendingTopics.isEmpty else { return nil }
            defer {
                self.pendingTopics = []
                self.pendingIndex = 0
            }
            return (self.pendingTopics, self.pendingIndex)
        }

        mutating func closeAll() -> [CheckedContinuation<Bool, Never>] {
            self.closed = true
            return self.waiters.keys.compactMap { self.removeWaiter($0) }
        }
    }
}

/// The text of a change notification: the index on the first line, then one topic per line.
/// Payloads are limited (8000 bytes), so a long topic list is replaced by "everything".
enum NotificationPayload {
    static let limit = 7_000

    static func encode(topics: Set<ChangeTopic>, index: UInt64) -> String {
        var text = "\(index)"
        for topic in topics.sorted(by: { $0.rawValue < $1.rawValue }) {
            text += "\n" + topic.rawValue
            if text.utf8.count > Self.limit { return "\(index)\n\(ChangeFeed.everything.rawValue)" }
        }
        return text
    }

    static func decode(_ payload: String) -> (Set<ChangeTopic>, UInt64)? {
        let lines = payload.split(separator: "\n", omittingEmptySubsequences: false)
        guard let first = lines.first, let index = UInt64(first) else { return nil }
        return (Set(lines.dropFirst().map { ChangeTopic(String($0)) }), index)
    }
}
