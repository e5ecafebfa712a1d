// mesh-bench: catalog-svc under load, beside PostgreSQL baselines measured in the same run.
//
// The machine is shared and noisy, so every figure that has a natural reference is reported
// as a ratio to that reference, measured in the same run and interleaved with it:
//   1. registrations/s (gRPC, REST) at N concurrent clients vs a plain single-row upsert commit
//      rate of the same PostgreSQL at the same concurrency (target >= 0.8x);
//   2. 1,000 blocking queries on one service woken by one registration: time until each
//      returned (p50, p99, max; target p99 < 1 s);
//   3. 10,000 instances in the catalog: catalog-svc's RSS, and /v1/health/service latency vs
//      the same rows read with one raw SQL query.
// Section 3 runs first, so that it measures a catalog of exactly N instances; sections 1 and 2
// then run against that populated catalog.
// Usage: swift build -c release --product catalog-svc && swift build -c release --product mesh-bench
//        .build/release/mesh-bench [--seconds 5] [--rounds 3] [--clients 8] [--watchers 1000] [--instances 10000]
import AsyncHTTPClient
import BenchSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import MeshCore
import MeshProto
import MeshStore
import MeshTesting
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import PostgresNIO
import SwiftProtobuf
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var seconds = 5.0
    var rounds = 3
    var clients = 8
    var watchers = 1000
    var instances = 10_000
    /// HTTP/2 connections per server for the registration rounds (REST's 8 callers have 8
    /// connections; a fleet's proxies and agents each have their own).
    var grpcConnections = ProcessInfo.processInfo.activeProcessorCount

    init(arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            let value = iterator.next() ?? ""
            switch flag {
            case "--seconds": self.seconds = Double(value) ?? self.seconds
            case "--rounds": self.rounds = Int(value) ?? self.rounds
            case "--clients": self.clients = Int(value) ?? self.clients
            case "--watchers": self.watchers = Int(value) ?? self.watchers
            case "--instances": self.instances = Int(value) ?? self.instances
            case "--grpc-connections": self.grpcConnections = max(1, Int(value) ?? self.grpcConnections)
            default: break
            }
        }
    }
}

func rssKiB(of pid: pid_t) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
    }
    return 0
}

func registration(node: String, service: String, id: String, port: Int) -> Mesh_V1_RegisterRequest {
    .with {
        $0.node = .with {
            $0.name = node
            $0.address = nodeAddress(node)
        }
        $0.service = .with {
            $0.name = service
            $0.id = id
            $0.port = UInt32(port % 65535)
            $0.tags = ["v1"]
            $0.meta = ["task": "arn:aws:ecs:us-east-1:123456789012:task/bench/\(id)"]
        }
    }
}

/// A stable address per node (an ECS task keeps its IP for its life).
func nodeAddress(_ node: String) -> String {
    let hash = node.utf8.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 }
    return "10.\(hash % 250).\((hash >> 8) % 250).\((hash >> 16) % 250)"
}

func restBody(node: String, service: String, id: String, port: Int) -> ByteBuffer {
    let json = """
        {"Node":"\(node)","Address":"\(nodeAddress(node))","Service":{"Service":"\(service)","ID":"\(id)",\
        "Port":\(port % 65535),"Tags":["v1"],"Meta":{"task":"arn:aws:ecs:us-east-1:123456789012:task/bench/\(id)"}}}
        """
    return ByteBuffer(string: json)
}

let options = Options(arguments: CommandLine.arguments)
var logger = Logger(label: "mesh-bench")
logger.logLevel = .warning
let pidFile = "/tmp/mesh-bench-\(getpid())"

say("# mesh-bench \(Date())")
say(
    "options: seconds=\(options.seconds) rounds=\(options.rounds) clients=\(options.clients) watchers=\(options.watchers) instances=\(options.instances)"
)
let postgres = try EphemeralPostgres.start(options: .init(fsync: true, maxConnections: 400), logger: logger)
let database = try await postgres.createDatabase(prefix: "bench", logger: logger)
say("postgres: 127.0.0.1:\(postgres.settings.port), fsync=on, synchronous_commit=on")

let httpPort = try FreePort.pick()
let grpcPort = try FreePort.pick()
var environment = ProcessInfo.processInfo.environment
environment["MESH_DATABASE_URL"] = database.url
environment["MESH_LOG_LEVEL"] = "warning"
let catalog = try Spawned.launch(
    findExecutable("catalog-svc"),
    ["--http-addr", "127.0.0.1:\(httpPort)", "--grpc-addr", "127.0.0.1:\(grpcPort)"],
    environment: environment,
    outputPath: NSTemporaryDirectory() + "mesh-bench-catalog-\(getpid()).log"
)

var httpConfiguration = HTTPClient.Configuration()
httpConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = options.watchers + 64
let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
let base = "http://127.0.0.1:\(httpPort)"

func get(_ path: String, timeout: Duration = .seconds(120)) async throws -> (HTTPClientResponse, ByteBuffer) {
    let response = try await http.execute(
        HTTPClientRequest(url: base + path),
        timeout: .nanoseconds(timeout.totalNanoseconds)
    )
    let body = try await response.body.collect(upTo: 64 << 20)
    return (response, body)
}

// Wait for readiness (a start-up probe of a child process).
let readyDeadline = ContinuousClock.now + .seconds(60)
while true {
    if let (response, _) = try? await get("/ready", timeout: .seconds(2)), response.status == .ok { break }
    guard ContinuousClock.now < readyDeadline else { fatalError("catalog-svc did not become ready") }
    try await Task.sleep(for: .milliseconds(100))
}
say("catalog-svc: pid \(catalog.pid), rss at start \(rssKiB(of: catalog.pid) / 1024) MiB")

// The registration reference: catalog.register(...) behind the same stack, nothing else
// (started once catalog-svc has migrated the schema it writes to).
let referenceHTTPPort = try FreePort.pick()
let referenceGRPCPort = try FreePort.pick()
let reference = try Spawned.launch(
    findExecutable("registration-reference"),
    ["--http-addr", "127.0.0.1:\(referenceHTTPPort)", "--grpc-addr", "127.0.0.1:\(referenceGRPCPort)"],
    environment: environment,
    outputPath: NSTemporaryDirectory() + "mesh-bench-reference-\(getpid()).log"
)
let referenceBase = "http://127.0.0.1:\(referenceHTTPPort)"
while true {
    if let response = try? await http.execute(HTTPClientRequest(url: referenceBase + "/ready"), timeout: .seconds(2)),
        response.status == .ok
    {
        break
    }
    guard ContinuousClock.now < readyDeadline + .seconds(30) else { fatalError("the reference did not start") }
    try await Task.sleep(for: .milliseconds(100))
}
say("registration-reference: pid \(reference.pid)")

// The baseline table lives in its own schema of the same database.
var pgConfig = try database.clientConfiguration()
pgConfig.options.maximumConnections = options.clients + 2
let pg = PostgresClient(configuration: pgConfig, backgroundLogger: logger)

try await withThrowingDiscardingTaskGroup { background in
    background.addTask { await pg.run() }
    defer { background.cancelAll() }
    try await pg.query(
        "CREATE TABLE IF NOT EXISTS public.baseline (id int PRIMARY KEY, body jsonb NOT NULL, modify_index bigint NOT NULL)",
        logger: logger
    )
    try await pg.query("CREATE SEQUENCE IF NOT EXISTS public.baseline_index", logger: logger)

    /// `options.grpcConnections` clients of the catalog API at `port`, each on its own HTTP/2 connection.
    func grpcClients(port: Int) throws -> [Mesh_V1_Catalog.Client<HTTP2ClientTransport.Posix>] {
        try (0..<options.grpcConnections).map { _ in
            let client = GRPCClient(
                transport: try HTTP2ClientTransport.Posix(
                    target: .ipv4(address: "127.0.0.1", port: port),
                    transportSecurity: .plaintext
                )
            )
            background.addTask { try await client.runConnections() }
            return Mesh_V1_Catalog.Client(wrapping: client)
        }
    }
    let referenceClients = try grpcClients(port: referenceGRPCPort)
    let catalogClients = try grpcClients(port: grpcPort)
    try await withGRPCClient(
        transport: try HTTP2ClientTransport.Posix(
            target: .ipv4(address: "127.0.0.1", port: grpcPort),
            transportSecurity: .plaintext
        )
    ) { grpc in
        let catalogClient = Mesh_V1_Catalog.Client(wrapping: grpc)
        let counter = Atomic<Int>(0)

        // 3. A catalog of N instances: memory and read latency.
        say("\n## 3. \(options.instances) instances: catalog-svc memory and /v1/health/service latency")
        let target = options.instances
        let clients = options.clients
        let loaded = try await loadInstances(catalogClient, count: target, clients: clients)
        let (_, services) = try await get("/v1/catalog/services")
        say(
            "registered \(loaded) instances into 100 services; /v1/catalog/services is \(services.readableBytes) bytes"
        )
        say("catalog-svc rss: \(rssKiB(of: catalog.pid) / 1024) MiB")
        var apiLatency: [Double] = []
        var sqlLatency: [Double] = []
        for _ in 0..<options.rounds {
            for _ in 0..<100 {
                var start = ContinuousClock.now
                let (_, body) = try await get("/v1/health/service/big-7")
                apiLatency.append(Double((ContinuousClock.now - start).totalNanoseconds) / 1e6)
                precondition(body.readableBytes > 1000)
                start = ContinuousClock.now
                let rows = try await pg.query(
                    """
                    SELECT s.body::text, n.address, c.body::text FROM catalog.services s JOIN catalog.nodes n ON n.name = s.node
                    LEFT JOIN catalog.checks c ON c.node = s.node AND (c.service_id = s.service_id OR c.service_id = '')
                    WHERE s.name = 'big-7'
                    """,
                    logger: logger
                )
                var count = 0
                for try await _ in rows { count += 1 }
                sqlLatency.append(Double((ContinuousClock.now - start).totalNanoseconds) / 1e6)
                precondition(count == target / 100)
            }
        }
        say(
            "/v1/health/service/big-7 (\(target / 100) instances): p50 \(fmt(percentile(apiLatency, 50), 2)) ms, p99 \(fmt(percentile(apiLatency, 99), 2)) ms; raw SQL join p50 \(fmt(percentile(sqlLatency, 50), 2)) ms (\(fmt(percentile(apiLatency, 50) / percentile(sqlLatency, 50), 2))x)"
        )
        say("catalog-svc rss after reads: \(rssKiB(of: catalog.pid) / 1024) MiB")

        // 1. Registration throughput vs the reference server and the baseline upsert, interleaved.
        say(
            "\n## 1. registrations/s at \(options.clients) clients (\(options.seconds)s x \(options.rounds) rounds; gRPC over \(options.grpcConnections) connections per server, REST one per client)"
        )
        var baseline: [Double] = []
        var viaGRPC: [Double] = []
        var viaREST: [Double] = []
        var referenceGRPCRates: [Double] = []
        var referenceRESTRates: [Double] = []
        let meter = CPUMeter(groups: [
            .init("bench", pids: [getpid()]), .init("catalog-svc", pids: [catalog.pid]),
            .init("reference", pids: [reference.pid]),
            .init("postgres", pids: [postgres.pid], withChildren: true),
        ])
        /// Registers over REST at `base` (catalog-svc or the reference).
        @Sendable func restRegister(_ base: String, node: String, id: String, n: Int) async throws {
            var request = HTTPClientRequest(url: base + "/v1/catalog/register")
            request.method = .PUT
            request.body = .bytes(restBody(node: node, service: "svc-\(n % 100)", id: id, port: n))
            let response = try await http.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 16)
            guard response.status == .ok else { fatalError("register failed: \(response.status)") }
        }
        /// One measured round of registrations over gRPC, the callers spread over `clients`
        /// (one HTTP/2 connection each); node and instance names start with `prefix`.
        func grpcRound(
            _ clients: [Mesh_V1_Catalog.Client<HTTP2ClientTransport.Posix>],
            _ prefix: String
        )
            async throws -> (rate: Double, cpu: String)
        {
            try await rate(clients: options.clients, seconds: options.seconds, cpu: meter) { caller, _ in
                let n = counter.add(1, ordering: .relaxed).newValue
                _ = try await clients[caller % clients.count].register(
                    registration(
                        node: "\(prefix)-node-\(n % 500)",
                        service: "svc-\(n % 100)",
                        id: "\(prefix)-\(n)",
                        port: n
                    )
                )
            }
        }
        /// The same over REST at `base`.
        func restRound(_ base: String, _ prefix: String) async throws -> (rate: Double, cpu: String) {
            try await rate(clients: options.clients, seconds: options.seconds, cpu: meter) { _, _ in
                let n = counter.add(1, ordering: .relaxed).newValue
                try await restRegister(base, node: "\(prefix)-node-\(n % 500)", id: "\(prefix)-\(n)", n: n)
            }
        }
        for round in 1...options.rounds {
            let (rg, rgCPU) = try await grpcRound(referenceClients, "rg")
            let (rr, rrCPU) = try await restRound(referenceBase, "rr")
            referenceGRPCRates.append(rg)
            referenceRESTRates.append(rr)
            let (b, bCPU) = try await rate(clients: options.clients, seconds: options.seconds, cpu: meter) {
                client,
                n in
                let id = Int.random(in: 1...10_000)
                let body = "{\"Address\":\"10.0.0.1\",\"Port\":8080,\"Meta\":{\"task\":\"\(client)-\(n)\"}}"
                try await pg.query(
                    """
                    INSERT INTO public.baseline (id, body, modify_index) VALUES (\(id), \(body)::jsonb, nextval('public.baseline_index'))
                    ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, modify_index = EXCLUDED.modify_index
                    """,
                    logger: logger
                )
            }
            let (g, gCPU) = try await grpcRound(catalogClients, "g")
            let (r, rCPU) = try await restRound(base, "r")
            baseline.append(b)
            viaGRPC.append(g)
            viaREST.append(r)
            say(
                "round \(round): gRPC register \(fmt(g)) /s vs reference \(fmt(rg)) /s (\(fmt(g / rg, 2))x); REST register \(fmt(r)) /s vs reference \(fmt(rr)) /s (\(fmt(r / rr, 2))x); baseline upsert \(fmt(b)) /s"
            )
            say(
                "  cpu: reference gRPC: \(rgCPU)\n       reference REST: \(rrCPU)\n       baseline: \(bCPU)\n       gRPC: \(gCPU)\n       REST: \(rCPU)"
            )
        }
        let ratiosG = zip(viaGRPC, referenceGRPCRates).map { $0 / $1 }
        let ratiosR = zip(viaREST, referenceRESTRates).map { $0 / $1 }
        say(
            "median: gRPC \(fmt(median(viaGRPC))) /s = \(fmt(median(ratiosG), 2))x of the reference's \(fmt(median(referenceGRPCRates))) /s; REST \(fmt(median(viaREST))) /s = \(fmt(median(ratiosR), 2))x of the reference's \(fmt(median(referenceRESTRates))) /s (target >= 0.80x each, gRPC >= REST); baseline upsert \(fmt(median(baseline))) /s"
        )

        // 2. Fan-out of one registration to many blocking queries.
        say("\n## 2. \(options.watchers) blocking queries on one service, woken by one registration")
        var fanoutP50: [Double] = []
        var fanoutP99: [Double] = []
        for round in 1...options.rounds {
            let service = "fanout-\(round)"
            _ = try await catalogClient.register(
                registration(node: "fan-node", service: service, id: "\(service)-0", port: 1)
            )
            let (first, _) = try await get("/v1/health/service/\(service)")
            let index = first.headers.first(name: "X-Consul-Index") ?? "1"
            let baseWaiters = try await feedWaiters()
            let times = try await withThrowingTaskGroup(of: ContinuousClock.Instant.self) { group in
                for _ in 0..<options.watchers {
                    group.addTask {
                        let (response, body) = try await get("/v1/health/service/\(service)?index=\(index)&wait=60s")
                        let end = ContinuousClock.now
                        guard response.status == .ok, body.readableBytes > 2 else { fatalError("watch failed") }
                        return end
                    }
                }
                // All parked (the server's own gauge says so), then one write.
                let parkDeadline = ContinuousClock.now + .seconds(60)
                while try await feedWaiters() < baseWaiters + Double(options.watchers) {
                    guard ContinuousClock.now < parkDeadline else { fatalError("watchers did not park") }
                    try await Task.sleep(for: .milliseconds(50))
                }
                let start = ContinuousClock.now
                _ = try await catalogClient.register(
                    registration(node: "fan-node-2", service: service, id: "\(service)-1", port: 2)
                )
                var latencies: [Double] = []
                for try await end in group { latencies.append(Double((end - start).totalNanoseconds) / 1e6) }
                return latencies
            }
            fanoutP50.append(percentile(times, 50))
            fanoutP99.append(percentile(times, 99))
            say(
                "round \(round): returned \(times.count); p50 \(fmt(percentile(times, 50))) ms, p99 \(fmt(percentile(times, 99))) ms, max \(fmt(times.max() ?? 0)) ms"
            )
        }
        say("median: p50 \(fmt(median(fanoutP50))) ms, p99 \(fmt(median(fanoutP99))) ms (target p99 < 1000 ms)")

    }
}

try await http.shutdown().get()
reference.stop()
catalog.stop()
postgres.stop()

/// Registers `count` instances into 100 services over `clients` concurrent gRPC calls.
func loadInstances(
    _ catalog: Mesh_V1_Catalog.Client<HTTP2ClientTransport.Posix>,
    count: Int,
    clients: Int
) async throws -> Int {
    try await withThrowingTaskGroup(of: Int.self) { group in
        for client in 0..<clients {
            group.addTask {
                var n = client
                var done = 0
                while n < count {
                    _ = try await catalog.register(
                        registration(node: "big-node-\(n / 10)", service: "big-\(n % 100)", id: "big-\(n)", port: n)
                    )
                    done += 1
                    n += clients
                }
                return done
            }
        }
        var total = 0
        for try await done in group { total += done }
        return total
    }
}

/// The server's count of parked watchers, from its Prometheus endpoint.
func feedWaiters() async throws -> Double {
    let (_, body) = try await get("/metrics", timeout: .seconds(10))
    let text = String(buffer: body)
    for line in text.split(separator: "\n") where line.hasPrefix("mesh_change_feed_waiters") {
        return Double(line.split(separator: " ").last ?? "0") ?? 0
    }
    return 0
}
