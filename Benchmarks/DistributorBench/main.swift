// distributor-bench: how fast a change reaches every proxy's config stream, and what an idle
// stream costs the config-distributor.
//
//   1. Intention change -> enforcement: `bench -> *` is created or deleted through authz-svc's REST
//      API; measured per stream from the write until the stream receives the snapshot with the
//      new intentions (a proxy applies it on receipt). Reference, same run: a direct gRPC watcher
//      of authz-svc's intentions stream (what the distributor itself follows).
//   2. Instance failure -> removal: an `api` sidecar's check turns critical (catalog REST); per
//      stream until its snapshot no longer lists that endpoint. Reference: a direct gRPC watcher
//      of catalog-svc's `api-sidecar-proxy` watch.
//   Both at 1, 100 and 1,000 streams; each stream is a separate gRPC client with its own TCP
//   connection and stream (a simulated proxy that ACKs every push), as real proxies are.
//   3. Idle streams: the distributor's RSS with 0 and with N (default 5,000) open, idle streams.
//
// catalog-svc, authz-svc and ca-svc run in this process (release build, each on its own
// database); config-distributor runs as its own process (the built binary next to this one), so
// its memory is its own.
// Usage: swift build -c release --product distributor-bench --product config-distributor
//        .build/release/distributor-bench [--streams 1,100,1000] [--rounds 5] [--idle 5000]
import BenchSupport
import ControlPlaneHarness
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import MeshCore
import MeshProto
import MeshRPC
import MeshTesting
import Synchronization

struct Options {
    var streams = [1, 100, 1000]
    var rounds = 5
    var idle = 5000

    init(arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            let value = iterator.next() ?? ""
            switch flag {
            case "--streams": self.streams = value.split(separator: ",").compactMap { Int($0) }
            case "--rounds": self.rounds = Int(value) ?? self.rounds
            case "--idle": self.idle = Int(value) ?? self.idle
            default: break
            }
        }
    }
}

/// What a simulated proxy keeps of each push: when it arrived and what it said.
struct Received: Sendable {
    let at: ContinuousClock.Instant
    let intentions: Int
    let endpoints: [Int]
}

/// A simulated proxy: its own gRPC client (own TCP connection) and config stream; ACKs every push.
final class ReceivedLog: Sendable {
    let items = Mutex<[Received]>([])
}

final class SimProxy: Sendable {
    let log = ReceivedLog()
    let task: Task<Void, Never>

    init(distributor: HostPort, proxyID: String, service: String) {
        let log = self.log
        self.task = Task {
            do {
                try await withGRPCClient(
                    transport: try HTTP2ClientTransport.Posix(
                        target: .ipv4(address: distributor.host, port: distributor.port),
                        transportSecurity: .plaintext
                    )
                ) { client in
                    let (acks, ack) = AsyncStream.makeStream(of: Mesh_V1_ProxyStreamRequest.self)
                    var hello = Mesh_V1_ProxyStreamRequest()
                    hello.hello.proxyID = proxyID
                    hello.hello.service = service
                    ack.yield(hello)
                    var metadata = Metadata()
                    metadata.addString(managementSecret, forKey: "x-consul-token")
                    try await Mesh_V1_ConfigDistributor.Client(wrapping: client).stream(
                        metadata: metadata,
                        requestProducer: { writer in for await message in acks { try await writer.write(message) } },
                        onResponse: { response in
                            let decoder = JSONDecoder()
                            for try await push in response.messages {
                                let now = ContinuousClock.now
                                let snapshot = try decoder.decode(ProxySnapshot.self, from: push.snapshotJson)
                                log.items.withLock {
                                    $0.append(
                                        Received(
                                            at: now,
                                            intentions: snapshot.intentions.count,
                                            endpoints: snapshot.upstreams.first?.endpoints.map(\.port) ?? []
                                        )
                                    )
                                }
                                var answer = Mesh_V1_ProxyStreamRequest()
                                answer.ack.version = push.version
                                answer.ack.nonce = push.nonce
                                ack.yield(answer)
                            }
                        }
                    )
                }
            } catch {
                if !Task.isCancelled { say("stream \(proxyID) failed: \(error)") }
            }
        }
    }

    /// When the first push after `since` satisfying `condition` arrived.
    func firstArrival(after since: ContinuousClock.Instant, _ condition: (Received) -> Bool) -> ContinuousClock.Instant?
    {
        self.log.items.withLock { $0.first { $0.at >= since && condition($0) }?.at }
    }

    var latest: Received? { self.log.items.withLock { $0.last } }
}

/// Waits until every proxy saw a matching push after `since`; returns each one's delay in ms.
func delays(
    _ proxies: [SimProxy],
    since: ContinuousClock.Instant,
    within limit: Duration = .seconds(60),
    _ condition: @escaping (Received) -> Bool
) async throws -> [Double] {
    let deadline = since + limit
    while true {
        let arrivals = proxies.map { $0.firstArrival(after: since, condition) }
        if arrivals.allSatisfy({ $0 != nil }) {
            return arrivals.map { seconds($0! - since) * 1000 }
        }
        guard ContinuousClock.now < deadline else {
            let sample = proxies[0].log.items.withLock { $0.map { "\($0.intentions)@\(seconds($0.at - since))" } }
            throw TestFailure(
                "\(arrivals.filter { $0 == nil }.count) of \(proxies.count) streams never saw the change "
                    + "(first stream's pushes: intentions@seconds since the change: \(sample))"
            )
        }
        try await Task.sleep(for: .milliseconds(2))
    }
}

/// A direct watcher of one gRPC stream: records when each message arrived.
final class DirectWatch: Sendable {
    let arrivals = Mutex<[ContinuousClock.Instant]>([])

    func first(after since: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        self.arrivals.withLock { $0.first { $0 >= since } }
    }

    func record() { self.arrivals.withLock { $0.append(.now) } }
}

func rssKiB(_ pid: pid_t) -> Int {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}

func summary(_ name: String, _ values: [Double]) -> String {
    "\(name): p50 \(fmt(percentile(values, 50))) ms, p99 \(fmt(percentile(values, 99))) ms, max \(fmt(values.max() ?? 0)) ms"
}

let options = Options(arguments: CommandLine.arguments)
/// Proxies are spread over this many services (a fleet is many instances of a few services), each
/// calling `api`.
let serviceCount = 50
func service(of index: Int) -> String { "web-\(index % serviceCount)" }
let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
let distributorBinary = here.appendingPathComponent("config-distributor").path
guard FileManager.default.isExecutableFile(atPath: distributorBinary) else {
    say("build config-distributor first: swift build -c release --product config-distributor")
    exit(2)
}
say("distributor-bench: streams \(options.streams), \(options.rounds) rounds each, \(options.idle) idle streams")

try await withAuthz { authz in
    try await withCatalogAndGRPC(enforcedBy: authz) { catalogAPI, catalogGRPC in
        try await withCA(authz: authz) { caGRPC in
            let catalog = catalogAPI.with(token: managementSecret)
            func register(
                service: String,
                id: String,
                port: Int,
                upstreams: [[String: Any]] = [],
                status: String = "passing"
            ) async throws {
                let answer = try await catalog.put(
                    "/v1/catalog/register",
                    json: [
                        "Node": "bench", "Address": "127.0.0.1",
                        "Service": [
                            "ID": id, "Service": "\(service)-sidecar-proxy", "Kind": "connect-proxy", "Port": port,
                            "Proxy": [
                                "DestinationServiceName": service, "LocalServicePort": 8080, "Upstreams": upstreams,
                            ]
                                as [String: Any],
                        ] as [String: Any],
                        "Checks": [["CheckID": "\(id)-alive", "Name": "alive", "ServiceID": id, "Status": status]],
                    ] as [String: Any]
                )
                guard answer.status == 200 else { throw TestFailure("register \(id): \(answer.text)") }
            }
            for index in 1...3 { try await register(service: "api", id: "api-\(index)", port: 30000 + index) }
            // Idle streams reuse the registrations (several streams per proxy ID): registering
            // thousands of instances one by one would dominate the run.
            let maxStreams = max(options.streams.max() ?? 1, 1)
            say("registering \(maxStreams) sidecars of \(serviceCount) services")
            for index in 1...maxStreams {
                try await register(
                    service: service(of: index),
                    id: "web-\(index)",
                    port: 20000 + index % 10000,
                    upstreams: [["DestinationName": "api", "LocalBindPort": 9191]]
                )
            }

            let grpcPort = try FreePort.pick()
            let httpPort = try FreePort.pick()
            var environment = ProcessInfo.processInfo.environment
            environment["MESH_ACL_TOKEN"] = managementSecret
            environment["MESH_LOG_LEVEL"] = "warning"
            let distributor = try Spawned.launch(
                distributorBinary,
                [
                    "--catalog-addr", catalogGRPC.description, "--authz-addr", authz.grpc.description,
                    "--ca-addr", caGRPC.description, "--grpc-addr", "127.0.0.1:\(grpcPort)",
                    "--http-addr", "127.0.0.1:\(httpPort)",
                ],
                environment: environment,
                outputPath: Spawned.inheritOutput
            )
            defer { distributor.stop() }
            let distributorAPI = TestAPI(HostPort(host: "127.0.0.1", port: httpPort))
            try await eventually(within: .seconds(60), "config-distributor /ready") {
                (try? await distributorAPI.get("/ready").status) == 200
            }
            let address = HostPort(host: "127.0.0.1", port: grpcPort)

            // The references: direct watchers of the streams the distributor follows.
            let intentionWatch = DirectWatch()
            let catalogWatch = DirectWatch()
            let watchers = Task {
                try await withGRPCClient(
                    transport: try HTTP2ClientTransport.Posix(
                        target: .ipv4(address: authz.grpc.host, port: authz.grpc.port),
                        transportSecurity: .plaintext
                    )
                ) { authzClient in
                    try await withGRPCClient(
                        transport: try HTTP2ClientTransport.Posix(
                            target: .ipv4(address: catalogGRPC.host, port: catalogGRPC.port),
                            transportSecurity: .plaintext
                        )
                    ) { catalogClient in
                        var token = Metadata()
                        token.addString(managementSecret, forKey: "x-consul-token")
                        let metadata = token
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask {
                                try await Mesh_V1_Intentions.Client(wrapping: authzClient).watch(
                                    .init(),
                                    metadata: metadata
                                ) { response in for try await _ in response.messages { intentionWatch.record() } }
                            }
                            group.addTask {
                                var request = Mesh_V1_WatchRequest()
                                request.service = "api-sidecar-proxy"
                                try await Mesh_V1_Catalog.Client(wrapping: catalogClient).watch(
                                    request,
                                    metadata: metadata
                                ) { response in for try await _ in response.messages { catalogWatch.record() } }
                            }
                            try await group.waitForAll()
                        }
                    }
                }
            }
            defer { watchers.cancel() }

            var lines: [String] = []
            for count in options.streams {
                say("\(count) streams: opening")
                let proxies = (1...count).map {
                    SimProxy(distributor: address, proxyID: "web-\($0)", service: service(of: $0))
                }
                try await eventually(within: .seconds(120), "\(count) first snapshots") {
                    proxies.allSatisfy { $0.latest != nil }
                }
                var intentionDelays: [Double] = []
                var removalDelays: [Double] = []
                var intentionReference: [Double] = []
                var removalReference: [Double] = []
                for round in 0..<options.rounds {
                    // Intention: create (even rounds) or delete (odd rounds) `bench -> *`, which
                    // every proxy's snapshot carries.
                    _ = round
                    let create = (proxies[0].latest?.intentions ?? 0) == 0
                    let expected = create ? 1 : 0
                    let start = ContinuousClock.now
                    let answer =
                        create
                        ? try await authz.admin.put(
                            "/v1/connect/intentions/exact?source=bench&destination=*",
                            json: ["Action": "allow"]
                        )
                        : try await authz.admin.delete("/v1/connect/intentions/exact?source=bench&destination=*")
                    guard answer.status == 200 else { throw TestFailure("intention: \(answer.text)") }
                    intentionDelays += try await delays(proxies, since: start) { $0.intentions == expected }
                    if let seen = intentionWatch.first(after: start) {
                        intentionReference.append(seconds(seen - start) * 1000)
                    }

                    // Failure: api-2's sidecar turns critical, then passing again.
                    let failStart = ContinuousClock.now
                    try await register(service: "api", id: "api-2", port: 30002, status: "critical")
                    removalDelays += try await delays(proxies, since: failStart) { !$0.endpoints.contains(30002) }
                    if let seen = catalogWatch.first(after: failStart) {
                        removalReference.append(seconds(seen - failStart) * 1000)
                    }
                    let back = ContinuousClock.now
                    try await register(service: "api", id: "api-2", port: 30002)
                    _ = try await delays(proxies, since: back) { $0.endpoints.contains(30002) }
                }
                let rss = rssKiB(distributor.pid)
                for proxy in proxies { proxy.task.cancel() }
                let line = [
                    "| \(count) | \(fmt(percentile(intentionDelays, 50))) | \(fmt(percentile(intentionDelays, 99)))",
                    "\(fmt(percentile(intentionReference, 50)))",
                    "\(fmt(percentile(removalDelays, 50))) | \(fmt(percentile(removalDelays, 99)))",
                    "\(fmt(percentile(removalReference, 50)))",
                    "\(fmt(percentile(intentionDelays, 99) / max(percentile(intentionReference, 50), 0.001), 1))x",
                    "\(fmt(percentile(removalDelays, 99) / max(percentile(removalReference, 50), 0.001), 1))x",
                    "\(rss / 1024) |",
                ].joined(separator: " | ")
                say(summary("  intention -> stream", intentionDelays))
                say(summary("  intention -> direct authz watcher", intentionReference))
                say(summary("  failure -> stream", removalDelays))
                say(summary("  failure -> direct catalog watcher", removalReference))
                lines.append(line)
                // Let the closed streams go before the next size.
                try await eventually(within: .seconds(30), "streams to close") {
                    let text = (try? await distributorAPI.get("/metrics").text) ?? ""
                    return text.contains("mesh_distributor_streams 0")
                }
            }
            say("")
            say(
                "| streams | intention p50 ms | intention p99 ms | direct authz watch p50 ms | failure p50 ms | failure p99 ms | direct catalog watch p50 ms | intention p99 / direct | failure p99 / direct | distributor RSS MiB |"
            )
            say("|---|---|---|---|---|---|---|---|---|---|")
            for line in lines { say(line) }

            if options.idle > 0 {
                let before = rssKiB(distributor.pid)
                say("\nopening \(options.idle) idle streams")
                let opened = ContinuousClock.now
                let proxies = (1...options.idle).map {
                    let index = ($0 - 1) % maxStreams + 1
                    return SimProxy(distributor: address, proxyID: "web-\(index)", service: service(of: index))
                }
                try await eventually(within: .seconds(600), "\(options.idle) first snapshots") {
                    proxies.allSatisfy { $0.latest != nil }
                }
                let took = seconds(.now - opened)
                let after = rssKiB(distributor.pid)
                say(
                    "idle streams: \(options.idle) open (first snapshots in \(fmt(took)) s); distributor RSS "
                        + "\(before / 1024) MiB -> \(after / 1024) MiB: \(fmt(Double(after - before) / Double(options.idle), 1)) KiB per stream"
                )
                // One change still reaches every idle stream.
                let create = (proxies[0].latest?.intentions ?? 0) == 0
                let start = ContinuousClock.now
                let changed =
                    create
                    ? try await authz.admin.put(
                        "/v1/connect/intentions/exact?source=bench&destination=*",
                        json: ["Action": "allow"]
                    )
                    : try await authz.admin.delete("/v1/connect/intentions/exact?source=bench&destination=*")
                guard changed.status == 200 else { throw TestFailure("intention: \(changed.status) \(changed.text)") }
                let expected = create ? 1 : 0
                say(
                    summary(
                        "  intention -> \(options.idle) streams",
                        try await delays(proxies, since: start) { $0.intentions == expected }
                    )
                )
                for proxy in proxies { proxy.task.cancel() }
            }
        }
    }
}
