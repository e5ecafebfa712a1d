public import MeshCore
public import PostgresNIO
import ServiceLifecycle

/// The one way to read at an index and follow changes: blocking reads (Consul's `?index=&wait=`)
/// and watch streams are both this loop.
///
/// Each round takes a mark of the topics, then reads, then waits on the feed beyond the mark, so
/// a change that commits while the read runs wakes the next wait instead of being lost. A result
/// that is not settled (it shows a write above the stable index) is read again shortly, since the
/// write still in flight may announce nothing the round waits on.
extension ChangeFeed {
    /// How soon an unsettled result is read again.
    public static let unsettledRetry: Duration = .milliseconds(20)

    /// Reads until `done` holds for a result, or until `deadline` (or the feed has stopped, or
    /// the service is shutting down gracefully); returns the last result either way.
    ///
    /// Cancellation ends the wait and throws `CancellationError`. A graceful shutdown answers at
    /// once with what was read (Consul's servers do the same): before, an HTTP blocking query
    /// held its server's shutdown for up to its `wait`, since the server drains its requests
    /// before the feed stops.
    public func read<Value>(
        _ topics: [ChangeTopic],
        until done: (Indexed<Value>) -> Bool,
        deadline: ContinuousClock.Instant,
        unsettledRetry: Duration = ChangeFeed.unsettledRetry,
        _ read: (ChangeMark) async throws -> Indexed<Value>
    ) async throws -> Indexed<Value> {
        while true {
            let mark = self.mark(topics)
            let result = try await read(mark)
            if done(result) || ContinuousClock.now >= deadline || self.isClosed { return result }
            let wakeAt = result.settled ? deadline : min(deadline, .now + unsettledRetry)
            _ = await cancelWhenGracefulShutdown { await self.wait(beyond: mark, until: wakeAt) }
            try Task.checkCancellation()
            if Task.isShuttingDownGracefully { return result }
        }
    }

    /// A Consul blocking query: the result at once when `blocking` does not block, otherwise the
    /// first result whose index is above `blocking.minIndex`, or the last one read at the deadline.
    public func blockingRead<Value>(
        _ topics: [ChangeTopic],
        _ blocking: BlockingQuery,
        unsettledRetry: Duration = ChangeFeed.unsettledRetry,
        _ read: (ChangeMark) async throws -> Indexed<Value>
    ) async throws -> Indexed<Value> {
        try await self.read(
            topics,
            until: { !blocking.isBlocking || $0.index > blocking.minIndex },
            deadline: .now + blocking.maxWait,
            unsettledRetry: unsettledRetry,
            read
        )
    }

    /// The results a watch stream sends, starting after index `from` (0: the current one first).
    ///
    /// With `.indexOrValue`, a result is sent when its index moved past the last one sent, or when
    /// its value differs from the last one sent (the stable index can lag a write the read
    /// already shows; waiting for the index would hold that write back until the next change).
    /// With `.value`, the first result and then only changed values are sent: for a value whose
    /// index moves with unrelated writes. Indexes sent never go backwards. Each round waits at
    /// most `idleRead` before reading again regardless.
    public func watch<Value: Equatable>(
        _ topics: [ChangeTopic],
        from index: ModifyIndex,
        sending: WatchSends = .indexOrValue,
        idleRead: Duration = .seconds(300),
        unsettledRetry: Duration = ChangeFeed.unsettledRetry,
        _ read: @escaping @Sendable (ChangeMark) async throws -> Indexed<Value>
    ) -> Watch<Value> {
        Watch(
            feed: self,
            topics: topics,
            from: index,
            sending: sending,
            idleRead: idleRead,
            unsettledRetry: unsettledRetry,
            read: read
        )
    }

    /// Wakes once per change of `topics` after this call (not after the iteration starts; several
    /// changes while the consumer is busy count as one): how a service drops a cache when its
    /// rows change.
    public func changes(of topics: [ChangeTopic]) -> Changes {
        Changes(feed: self, topics: topics, mark: self.mark(topics))
    }
}

extension ChangeFeed {
    /// The one way to write at an index: `body` runs in one transaction with the schema's next
    /// modify index (taken under the in-flight lock that keeps readers' stable index below it
    /// until commit), and once it has committed `topics` are published at that index, so this
    /// replica's watchers wake at once and the others on the coalesced notification.
    ///
    /// Throws ``PostgresTimeout`` after `limit`, leaving the write behind (it may still commit):
    /// a write in flight when PostgreSQL went down did not always end, and held its HTTP request
    /// (and its client) until the client gave up.
    @discardableResult
    public func write<Result: Sendable>(
        _ topics: Set<ChangeTopic>,
        limit: Duration = ChangeFeed.writeLimit,
        _ body: @escaping @Sendable (PostgresConnection, ModifyIndex) async throws -> Result
    ) async throws -> Result {
        let (schema, logger, client) = (self.schema, self.logger, self.client)
        let result: Result
        let index: ModifyIndex
        do {
            (result, index) = try await abandoning("a write", after: limit) {
                try await client.transaction(logger: logger) { connection in
                    let index = try await connection.nextIndex(of: schema, logger: logger)
                    return (try await body(connection, index), index)
                }
            }
        } catch let timeout as PostgresTimeout {
            logger.warning("abandoned a write (it may still commit)", metadata: [LogKey.error: "\(timeout)"])
            throw timeout
        }
        self.publish(topics, index: index)
        return result
    }

    /// How long a write may take before its caller stops waiting for it.
    public static let writeLimit: Duration = .seconds(30)
}

extension ChangeFeed {
    /// See `ChangeFeed.watch`. Iterating runs the reads in the consumer's task: nothing runs
    /// between two calls of `next()`, and cancelling the consumer ends the sequence.
    public struct Watch<Value: Equatable & Sendable>: AsyncSequence, Sendable {
        public typealias Element = Indexed<Value>
        let feed: ChangeFeed
        let topics: [ChangeTopic]
        let from: ModifyIndex
        let sending: WatchSends
        let idleRead: Duration
        let unsettledRetry: Duration
        let read: @Sendable (ChangeMark) async throws -> Indexed<Value>

        public func makeAsyncIterator() -> Iterator {
            Iterator(watch: self, lastIndex: self.from, lastValue: nil)
        }

        public struct Iterator: AsyncIteratorProtocol {
            let watch: Watch
            var lastIndex: ModifyIndex
            var lastValue: Value?

            public mutating func next() async throws -> Indexed<Value>? {
                let (lastIndex, lastValue, sending) = (self.lastIndex, self.lastValue, self.watch.sending)
                func moved(_ result: Indexed<Value>) -> Bool {
                    switch sending {
                    case .indexOrValue: result.index > lastIndex || (lastValue != nil && lastValue != result.value)
                    case .value: lastValue != result.value
                    }
                }
                while !Task.isCancelled {
                    var result = try await self.watch.feed.read(
                        self.watch.topics,
                        until: moved,
                        deadline: .now + self.watch.idleRead,
                        unsettledRetry: self.watch.unsettledRetry,
                        self.watch.read
                    )
                    guard moved(result) else {
                        if self.watch.feed.isClosed { return nil }
                        continue
                    }
                    result.index = Swift.max(result.index, lastIndex)
                    self.lastIndex = result.index
                    self.lastValue = result.value
                    return result
                }
                return nil
            }
        }
    }

    /// See `ChangeFeed.changes(of:)`.
    public struct Changes: AsyncSequence, Sendable {
        public typealias Element = ChangeMark
        let feed: ChangeFeed
        let topics: [ChangeTopic]
        let mark: ChangeMark

        public func makeAsyncIterator() -> Iterator {
            Iterator(feed: self.feed, topics: self.topics, mark: self.mark)
        }

        public struct Iterator: AsyncIteratorProtocol {
            let feed: ChangeFeed
            let topics: [ChangeTopic]
            var mark: ChangeMark

            /// The mark after the change; nil once the consumer is cancelled or the feed has stopped.
            public mutating func next() async -> ChangeMark? {
                while !Task.isCancelled && !self.feed.isClosed {
                    let changed = await self.feed.wait(beyond: self.mark, until: .now + .seconds(60))
                    // The next mark comes before the consumer acts, so a change meanwhile is kept.
                    self.mark = self.feed.mark(self.topics)
                    if changed && !Task.isCancelled { return self.mark }
                }
                return nil
            }
        }
    }
}

/// What moves a watch stream on: see `ChangeFeed.watch`.
public enum WatchSends: Sendable {
    case indexOrValue
    case value
}
