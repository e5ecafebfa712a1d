// kv-bench: catalog-svc's KV store and locks, beside a reference measured in the same run.
//
//   1. KV writes/s at N clients (PUT /v1/kv/<key>, 100-byte values over 1,000 keys) against the
//      reference: `registration-reference`'s bare Hummingbird handler doing one upsert through
//      postgres-nio per request (target >= 0.8x), rounds interleaved;
//   2. 1,000 blocking queries on one prefix (`?recurse&index=`) woken by one write under it:
//      time until each returned (target p99 < 1 s); and 1,000 on other keys, which that write
//      must not wake (each returns only at its wait);
//   3. lock handover: a holder's session is destroyed (lock-delay 0) while a waiter blocks on
//      the key in Consul's lock recipe (blocking GET, then `?acquire=`); the time until the
//      waiter holds the lock, p50/p99.
// Usage: swift build -c release --product catalog-svc --product registration-reference --product kv-bench
//        .build/release/kv-bench [--seconds 5] [--rounds 3] [--clients 8] [--watchers 1000] [--handovers 200]
import AsyncHTTPClient
import BenchSupport
import Foundation
import Logging
import MeshCore
import MeshStore
import MeshTesting
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import PostgresNIO
import Synchronization

struct Options {
    var seconds = 5.0
    var rounds = 3
    var clients = 8
    var watchers = 1000
    var handovers = 200

    init(arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            let value = iterator.next() ?? ""
            switch flag {
            case "--seconds": self.seconds = Double(value) ?? self.seconds
            case "--rounds": self.rounds = Int(value) ?? self.rounds
            case "--clients": self.clients = Int(value) ?? self.clients
            case "--watchers": self.watchers = Int(value) ?? self.watchers
            case "--handovers": self.handovers = Int(value) ?? self.handovers
            default: fatalError("unknown option \(flag)")
            }
        }
    }
}

let options = Options(arguments: CommandLine.arguments)
var logger = Logger(label: "kv-bench")
logger.logLevel = .warning
say("# kv-bench \(Date())")
say(
    "options: seconds=\(options.seconds) rounds=\(options.rounds) clients=\(options.clients) watchers=\(options.watchers) handovers=\(options.handovers)"
)
let postgres = try EphemeralPostgres.start(options: .init(fsync: true, maxConnections: 400), logger: logger)
let database = try await postgres.createDatabase(prefix: "kvbench", logger: logger)
say("postgres: 127.0.0.1:\(postgres.settings.port), fsync=on, synchronous_commit=on")

var environment = ProcessInfo.processInfo.environment
environment["MESH_DATABASE_URL"] = database.url
environment["MESH_LOG_LEVEL"] = "warning"
let catalogPort = try FreePort.pick()
let catalog = try Spawned.launch(
    findExecutable("catalog-svc"),
    ["--http-addr", "127.0.0.1:\(catalogPort)", "--grpc-addr", "127.0.0.1:\(try FreePort.pick())"],
    environment: environment,
    outputPath: NSTemporaryDirectory() + "kv-bench-catalog-\(getpid()).log"
)
let referencePort = try FreePort.pick()
let reference = try Spawned.launch(
    findExecutable("registration-reference"),
    ["--http-addr", "127.0.0.1:\(referencePort)", "--grpc-addr", "127.0.0.1:\(try FreePort.pick())"],
    environment: environment,
    outputPath: NSTemporaryDirectory() + "kv-bench-reference-\(getpid()).log"
)
let base = "http://127.0.0.1:\(catalogPort)"
let referenceBase = "http://127.0.0.1:\(referencePort)"

var httpConfiguration = HTTPClient.Configuration()
httpConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 2 * options.watchers + 64
let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)

/// One request; the answer's status, index header and body.
func call(
    _ method: HTTPMethod,
    _ url: String,
    body: ByteBuffer? = nil,
    timeout: Duration = .seconds(120)
) async throws -> (status: UInt, index: String?, body: ByteBuffer) {
    var request = HTTPClientRequest(url: url)
    request.method = method
    if let body { request.body = .bytes(body) }
    let response = try await http.execute(request, timeout: .nanoseconds(timeout.totalNanoseconds))
    let collected = try await response.body.collect(upTo: 64 << 20)
    return (response.status.code, response.headers.first(name: "X-Consul-Index"), collected)
}

/// `value` with its first bytes replaced by the write's own numbers (same length, never repeated).
func distinct(_ value: ByteBuffer, _ round: Int, _ client: Int, _ n: Int) -> ByteBuffer {
    var copy = value
    copy.setString("\(round)-\(client)-\(n)-", at: copy.readerIndex)
    return copy
}

/// When the write that should wake the watchers was sent.
final class StartMark: Sendable {
    let instant = Mutex<ContinuousClock.Instant?>(nil)
}

func waitReady(_ url: String) async throws {
    let deadline = ContinuousClock.now + .seconds(90)
    while true {
        if let answer = try? await call(.GET, url + "/ready", timeout: .seconds(2)), answer.status == 200 { return }
        guard ContinuousClock.now < deadline else { fatalError("\(url) did not become ready") }
        try await Task.sleep(for: .milliseconds(100))
    }
}

/// The server's count of parked watchers, from its Prometheus endpoint.
func feedWaiters() async throws -> Double {
    let text = String(buffer: try await call(.GET, base + "/metrics", timeout: .seconds(10)).body)
    for line in text.split(separator: "\n") where line.hasPrefix("mesh_change_feed_waiters") {
        return Double(line.split(separator: " ").last ?? "0") ?? 0
    }
    return 0
}

func parked(atLeast count: Double) async throws {
    let deadline = ContinuousClock.now + .seconds(60)
    while try await feedWaiters() < count {
        guard ContinuousClock.now < deadline else { fatalError("watchers did not park") }
        try await Task.sleep(for: .milliseconds(50))
    }
}

func session() async throws -> String {
    let body = ByteBuffer(string: #"{"Node": "bench-node", "LockDelay": "0s"}"#)
    let answer = try await call(.PUT, base + "/v1/session/create", body: body)
    guard answer.status == 200,
        let object = try JSONSerialization.jsonObject(with: Data(buffer: answer.body)) as? [String: Any],
        let id = object["ID"] as? String
    else { fatalError("session create failed: \(String(buffer: answer.body))") }
    return id
}

try await waitReady(base)
try await waitReady(referenceBase)
say("catalog-svc: pid \(catalog.pid); registration-reference: pid \(reference.pid)")

let pg = PostgresClient(configuration: try database.clientConfiguration(), backgroundLogger: logger)
try await withThrowingDiscardingTaskGroup { background in
    background.addTask { await pg.run() }
    defer { background.cancelAll() }
    try await pg.query(
        "CREATE TABLE public.kv_reference (key text PRIMARY KEY, value bytea, modify_index bigint NOT NULL)",
        logger: logger
    )
    try await pg.query("CREATE SEQUENCE public.kv_reference_index", logger: logger)
    let value = ByteBuffer(repeating: UInt8(ascii: "v"), count: 100)

    // 1. Writes.
    say("\n## 1. KV writes/s at \(options.clients) clients (PUT /v1/kv/bench/<n>, 100 bytes, 1,000 keys)")
    var ratios: [Double] = []
    var ours: [Double] = []
    var theirs: [Double] = []
    let meter = CPUMeter(groups: [
        .init("bench", pids: [getpid()]), .init("catalog-svc", pids: [catalog.pid]),
        .init("reference", pids: [reference.pid]), .init("postgres", pids: [postgres.pid], withChildren: true),
    ])
    for round in 1...options.rounds {
        // Every write changes its key's value: writing what is stored is a no-op in catalog-svc
        // (Consul's rule; no commit to flush), which would flatter it against the reference.
        func writes(to server: String) async throws -> (rate: Double, cpu: String) {
            try await rate(clients: options.clients, seconds: options.seconds, cpu: meter) { client, n in
                let answer = try await call(
                    .PUT,
                    "\(server)/v1/kv/bench/\((client * 7919 + n) % 1000)",
                    body: distinct(value, round, client, n)
                )
                guard answer.status == 200 else { fatalError("write failed: \(String(buffer: answer.body))") }
            }
        }
        let (referenceRate, referenceCPU) = try await writes(to: referenceBase)
        let (catalogRate, catalogCPU) = try await writes(to: base)
        ours.append(catalogRate)
        theirs.append(referenceRate)
        ratios.append(catalogRate / referenceRate)
        say(
            "round \(round): catalog-svc \(fmt(catalogRate)) /s, reference \(fmt(referenceRate)) /s (\(fmt(catalogRate / referenceRate, 2))x)"
        )
        say("  cpu: catalog-svc round: \(catalogCPU)\n       reference round: \(referenceCPU)")
    }
    say(
        "median: \(fmt(median(ours))) /s = \(fmt(median(ratios), 2))x of the reference's \(fmt(median(theirs))) /s (target >= 0.80x)"
    )

    // 2. Blocking queries on a prefix and on other keys.
    say(
        "\n## 2. \(options.watchers) blocking queries on one prefix woken by one write; \(options.watchers) on other keys"
    )
    var p99s: [Double] = []
    var falseWakes = 0
    for round in 1...options.rounds {
        let prefix = "watch-\(round)/"
        _ = try await call(.PUT, "\(base)/v1/kv/\(prefix)first", body: value)
        let index = try await call(.GET, "\(base)/v1/kv/\(prefix)?recurse").index ?? "1"
        for n in 0..<options.watchers { _ = try await call(.PUT, "\(base)/v1/kv/other-\(round)/\(n)", body: value) }
        var otherIndexes: [String] = []
        for n in 0..<options.watchers {
            otherIndexes.append(try await call(.GET, "\(base)/v1/kv/other-\(round)/\(n)").index ?? "1")
        }
        let before = try await feedWaiters()
        let wait = 8.0
        let (times, early) = try await withThrowingTaskGroup(of: (Double?, Bool).self) { group in
            let start = StartMark()
            for _ in 0..<options.watchers {
                group.addTask {
                    let answer = try await call(.GET, "\(base)/v1/kv/\(prefix)?recurse&index=\(index)&wait=60s")
                    let end = ContinuousClock.now
                    guard answer.status == 200, let began = start.instant.withLock({ $0 }) else {
                        fatalError("watch failed")
                    }
                    return (seconds(end - began) * 1000, false)
                }
            }
            let otherStart = ContinuousClock.now
            for n in 0..<options.watchers {
                let otherIndex = otherIndexes[n]
                group.addTask {
                    let answer = try await call(
                        .GET,
                        "\(base)/v1/kv/other-\(round)/\(n)?index=\(otherIndex)&wait=\(Int(wait))s"
                    )
                    guard answer.status == 200 else { fatalError("other watch failed") }
                    // Woken before its wait ran out: a false wake.
                    return (nil, seconds(ContinuousClock.now - otherStart) < wait - 1)
                }
            }
            try await parked(atLeast: before + Double(2 * options.watchers))
            start.instant.withLock { $0 = .now }
            _ = try await call(.PUT, "\(base)/v1/kv/\(prefix)second", body: value)
            var times: [Double] = []
            var early = 0
            for try await (time, woken) in group {
                if let time { times.append(time) }
                if woken { early += 1 }
            }
            return (times, early)
        }
        falseWakes += early
        p99s.append(percentile(times, 99))
        say(
            "round \(round): prefix watchers returned \(times.count); p50 \(fmt(percentile(times, 50))) ms, p99 \(fmt(percentile(times, 99))) ms, max \(fmt(times.max() ?? 0)) ms; other-key watchers woken early: \(early) of \(options.watchers)"
        )
    }
    say("median p99: \(fmt(median(p99s))) ms (target < 1000 ms); other keys woken: \(falseWakes) (target 0)")

    // 3. Lock handover.
    say("\n## 3. Lock handover (lock-delay 0): holder's session destroyed -> waiter holds the lock")
    _ = try await call(
        .PUT,
        "\(base)/v1/catalog/register",
        body: ByteBuffer(string: #"{"Node": "bench-node", "Address": "127.0.0.1"}"#)
    )
    var handovers: [Double] = []
    for n in 0..<options.handovers {
        let key = "\(base)/v1/kv/lock/\(n % 10)"
        let holder = try await session()
        let waiter = try await session()
        guard String(buffer: try await call(.PUT, "\(key)?acquire=\(holder)", body: value).body) == "true" else {
            fatalError("holder could not acquire")
        }
        let index = try await call(.GET, key).index ?? "1"
        let before = try await feedWaiters()
        let elapsed = try await withThrowingTaskGroup(of: ContinuousClock.Instant.self) { group in
            group.addTask {
                // Consul's recipe: block on the key until its holder is gone, then acquire.
                var index = index
                while true {
                    let read = try await call(.GET, "\(key)?index=\(index)&wait=30s")
                    index = read.index ?? index
                    if !String(buffer: read.body).contains("\"Session\"") {
                        let taken = try await call(.PUT, "\(key)?acquire=\(waiter)", body: value)
                        if String(buffer: taken.body) == "true" { return .now }
                    }
                }
            }
            try await parked(atLeast: before + 1)
            let start = ContinuousClock.now
            _ = try await call(.PUT, "\(base)/v1/session/destroy/\(holder)")
            let end = try await group.next()!
            return seconds(end - start) * 1000
        }
        handovers.append(elapsed)
        _ = try await call(.PUT, "\(base)/v1/session/destroy/\(waiter)")
    }
    say(
        "\(handovers.count) handovers: p50 \(fmt(percentile(handovers, 50), 2)) ms, p99 \(fmt(percentile(handovers, 99), 2)) ms, max \(fmt(handovers.max() ?? 0, 2)) ms"
    )
}

try await http.shutdown().get()
reference.stop()
catalog.stop()
postgres.stop()
