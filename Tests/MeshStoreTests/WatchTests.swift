import Logging
import MeshCore
import PostgresNIO
import Synchronization
import Testing

@testable import MeshStore

/// The one blocking-read and watch loop, driven by a feed that is never run: changes are
/// published locally and the reads are scripted, so each case controls exactly what the store
/// "shows" and when the stable index catches up.
@Suite("Blocking reads and watches", .timeLimit(.minutes(1)))
struct WatchTests {
    static let topic = ChangeTopic("svc:web")

    /// A feed whose database is never contacted.
    static func feed() throws -> ChangeFeed {
        let settings = DatabaseSettings(port: 1)
        let client = PostgresClient(configuration: try settings.clientConfiguration(), backgroundLogger: logger)
        return ChangeFeed(schema: testSchema, client: client, settings: settings, applicationName: "t", logger: logger)
    }

    /// Hands out scripted results in order; once they run out, the last one again.
    final class Script<Value: Sendable>: Sendable {
        private let state: Mutex<(queue: [Indexed<Value>], current: Indexed<Value>?, reads: Int)>
        init(_ results: [Indexed<Value>]) { self.state = Mutex((results, nil, 0)) }
        var reads: Int { self.state.withLock { $0.reads } }
        func next() -> Indexed<Value> {
            self.state.withLock { state in
                state.reads += 1
                if !state.queue.isEmpty { state.current = state.queue.removeFirst() }
                return state.current!
            }
        }
        func append(_ result: Indexed<Value>) {
            self.state.withLock { $0.queue.append(result) }
        }
    }

    static func first<Value>(_ watch: ChangeFeed.Watch<Value>) async throws -> Indexed<Value>? {
        var iterator = watch.makeAsyncIterator()
        return try await iterator.next()
    }

    @Test("a result that shows a write above the stable index is read again until the index catches up")
    func unsettledResultIsReadAgain() async throws {
        let feed = try Self.feed()
        // The read already shows the write at 7 while a write at 6 is in flight (stable 5); no
        // change is announced when 6 commits, so only reading again can move the index.
        let script = Script([Indexed("b", resultIndex: 7, stable: 5), Indexed("b", resultIndex: 7, stable: 7)])
        let started = ContinuousClock.now
        let result = try await feed.blockingRead([Self.topic], BlockingQuery(minIndex: 5, maxWait: .seconds(20))) {
            _ in script.next()
        }
        #expect(result.index == 7)
        #expect(result.settled)
        #expect(script.reads == 2)
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test("a blocking read returns when a change moves the index, and at the deadline otherwise")
    func blockingReadWakesOnChange() async throws {
        let feed = try Self.feed()
        let script = Script([Indexed("a", index: 5)])
        let timedOut = try await feed.blockingRead(
            [Self.topic],
            BlockingQuery(minIndex: 5, maxWait: .milliseconds(200))
        ) {
            _ in script.next()
        }
        #expect(timedOut.index == 5)
        let reads = script.reads
        async let woken = feed.blockingRead([Self.topic], BlockingQuery(minIndex: 5, maxWait: .seconds(30))) {
            _ in script.next()
        }
        try await Self.eventually { script.reads > reads && feed.waiterCount == 1 }
        script.append(Indexed("b", index: 6))
        feed.publish([Self.topic], index: 6)
        let result = try await woken
        #expect(result.index == 6 && result.value == "b")
    }

    @Test("a watch sends a changed value even when the stable index has not moved")
    func watchSendsContentAheadOfTheIndex() async throws {
        let feed = try Self.feed()
        let script = Script([Indexed("a", index: 5)])
        var events = feed.watch([Self.topic], from: 0) { _ in script.next() }.makeAsyncIterator()
        let first = try await events.next()
        #expect(first?.value == "a" && first?.index == 5)
        // A write shows up in the read while an earlier one keeps the stable index at 5.
        script.append(Indexed("b", index: 5))
        feed.publish([Self.topic], index: 7)
        let second = try await events.next()
        #expect(second?.value == "b" && second?.index == 5)
        // The index moving alone sends too.
        script.append(Indexed("b", index: 8))
        feed.publish([Self.topic], index: 8)
        let third = try await events.next()
        #expect(third?.value == "b" && third?.index == 8)
        // A value read at a lower index (another replica's lagging stable index) keeps the index sent.
        script.append(Indexed("c", index: 4))
        feed.publish([Self.topic], index: 9)
        let fourth = try await events.next()
        #expect(fourth?.value == "c" && fourth?.index == 8)
    }

    @Test("a watch from an index sends nothing until the index passes it; by value, only changes")
    func watchFromAnIndexAndByValue() async throws {
        let feed = try Self.feed()
        let script = Script([Indexed("a", index: 5)])
        async let next = Self.first(
            feed.watch([Self.topic], from: 5, idleRead: .milliseconds(100)) { _ in script.next() }
        )
        try await Self.eventually { script.reads >= 3 }
        script.append(Indexed("a", index: 6))
        #expect(try await next?.index == 6)

        let values = Script([Indexed("x", index: 1)])
        var byValue = feed.watch([Self.topic], from: 0, sending: .value, idleRead: .milliseconds(50)) { _ in
            values.next()
        }.makeAsyncIterator()
        #expect(try await byValue.next()?.value == "x")
        values.append(Indexed("x", index: 9))
        values.append(Indexed("y", index: 10))
        let changed = try await byValue.next()
        #expect(changed?.value == "y" && changed?.index == 10)
        #expect(values.reads >= 3)
    }

    @Test("a change between asking for changes and iterating them is not lost")
    func changesKeepTheirMark() async throws {
        let feed = try Self.feed()
        let changes = feed.changes(of: [Self.topic])
        feed.publish([ChangeTopic("svc:other")], index: 3)
        feed.publish([Self.topic], index: 4)
        var iterator = changes.makeAsyncIterator()
        #expect(await iterator.next() != nil)
    }

    @Test("identical reads at one mark share one read; a later mark reads again")
    func sharedReadsAreSingleFlight() async throws {
        let feed = try Self.feed()
        let reads = SharedReads<String, Int>()
        let count = Counter()
        let gate = AsyncStream<Void>.makeStream()
        let mark = feed.mark([Self.topic])
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await reads.read("web", at: mark) {
                        let n = count.next()
                        for await _ in gate.stream { break }
                        return Indexed(n, index: 3)
                    }.value
                }
            }
            // Every reader parks behind the first one; then it is released.
            try await Self.eventually { count.value == 1 && reads.followers == 19 }
            gate.continuation.yield()
            var all: [Int] = []
            for try await value in group { all.append(value) }
            return all
        }
        #expect(results == Array(repeating: 1, count: 20))
        feed.publish([Self.topic], index: 4)
        gate.continuation.finish()
        let later = try await reads.read("web", at: feed.mark([Self.topic])) {
            Indexed(count.next(), index: 4)
        }
        #expect(later.value == count.value)
    }

    @Test("topic versions stay bounded, and a change to a forgotten topic is still seen")
    func topicVersionsAreBounded() async throws {
        let settings = DatabaseSettings(port: 1)
        let client = PostgresClient(configuration: try settings.clientConfiguration(), backgroundLogger: logger)
        let feed = ChangeFeed(
            schema: testSchema,
            client: client,
            settings: settings,
            applicationName: "t",
            topicLimit: 100,
            logger: logger
        )
        let node = ChangeTopic("node:n-1")
        // A mark taken before the topic was ever written, then a write, then enough writes to
        // other names to forget its version.
        let mark = feed.mark([node])
        let versionBefore = feed.version(of: node)
        feed.publish([node], index: 1)
        for n in 0..<1_000 { feed.publish([ChangeTopic("node:other-\(n)")], index: UInt64(n + 2)) }
        #expect(feed.topicCount <= 101)
        #expect(await feed.wait(beyond: mark, until: .now + .seconds(5)), "the change before forgetting is seen")
        #expect(feed.version(of: node) != versionBefore, "a cache that read before sees itself stale")
        // A topic someone waits on keeps its version.
        let watched = ChangeTopic("svc:watched")
        feed.publish([watched], index: 2_000)
        let watchedMark = feed.mark([watched])
        async let woken = feed.wait(beyond: watchedMark, until: .now + .seconds(20))
        try await Self.eventually { feed.waiterCount == 1 }
        for n in 0..<1_000 { feed.publish([ChangeTopic("node:more-\(n)")], index: UInt64(n + 3_000)) }
        #expect(feed.waiterCount == 1, "not woken by forgetting other topics")
        feed.publish([watched], index: 5_000)
        #expect(await woken)
    }

    final class Counter: Sendable {
        private let atomic = Atomic<Int>(0)
        var value: Int { self.atomic.load(ordering: .relaxed) }
        func next() -> Int { self.atomic.add(1, ordering: .relaxed).newValue }
    }

    static func eventually(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("condition not reached")
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
