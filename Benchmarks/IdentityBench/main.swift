// identity-bench: ca-svc, authz-svc and ACL enforcement under load, beside references measured
// in the same run (the machine is shared and noisy, so figures are reported as ratios):
//   1. leaves signed per second by one ca-svc replica over gRPC at N clients, vs raw P-256
//      signatures per second in this process on as many threads as the machine has cores
//      (target: >= 2,000 leaves/s; Consul's default CSR rate limit is 50/s);
//   2. token resolution latency: uncached (gRPC ResolveToken to authz-svc, which reads
//      PostgreSQL) vs cached (an ACLGate hit in this process);
//   3. time from a token's deletion until both catalog-svc and ca-svc refuse it
//      (p50/p99/max over many trials; target p99 < 1 s);
//   4. intention checks per second over REST (`/v1/connect/intentions/check`) vs the same
//      server's `/healthz` (the HTTP floor), and the in-process IntentionSet decision rate.
// Usage: swift build -c release --product authz-svc --product ca-svc --product catalog-svc --product identity-bench
//        .build/release/identity-bench [--seconds 5] [--clients 8] [--trials 50]
import AsyncHTTPClient
import BenchSupport
import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import MeshCore
import MeshProto
import MeshRPC
import MeshServer
import MeshStore
import MeshTLS
import MeshTesting
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import ServiceLifecycle
import SwiftProtobuf
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var seconds = 5.0
    var clients = 8
    var trials = 50

    init(arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            let value = iterator.next() ?? ""
            switch flag {
            case "--seconds": self.seconds = Double(value) ?? self.seconds
            case "--clients": self.clients = Int(value) ?? self.clients
            case "--trials": self.trials = Int(value) ?? self.trials
            default: break
            }
        }
    }
}

/// Raw P-256 signatures per second on `threads` threads (the reference for leaf signing).
func rawSignRate(threads: Int, seconds duration: Double) -> Double {
    let key = P256.Signing.PrivateKey()
    let message = Array(repeating: UInt8(7), count: 256)
    let total = Tally()
    let start = Date()
    DispatchQueue.concurrentPerform(iterations: threads) { _ in
        var count = 0
        let end = Date().addingTimeInterval(duration)
        while Date() < end {
            _ = try? key.signature(for: message)
            count += 1
        }
        total.value.add(count, ordering: .relaxed)
    }
    return Double(total.value.load(ordering: .relaxed)) / Date().timeIntervalSince(start)
}

let options = Options(arguments: CommandLine.arguments)
var logger = Logger(label: "identity-bench")
logger.logLevel = .warning
let cores = ProcessInfo.processInfo.activeProcessorCount
say("# identity-bench \(Date())")
say("options: seconds=\(options.seconds) clients=\(options.clients) trials=\(options.trials) cores=\(cores)")

let postgres = try EphemeralPostgres.start(options: .init(fsync: true, maxConnections: 200), logger: logger)
let database = try await postgres.createDatabase(prefix: "bench", logger: logger)
let token = UUID().uuidString.lowercased()
var baseEnvironment = ProcessInfo.processInfo.environment
baseEnvironment["MESH_DATABASE_URL"] = database.url
baseEnvironment["MESH_LOG_LEVEL"] = "warning"
let environment = baseEnvironment

struct Child {
    let process: Spawned
    let http: HostPort
    let grpc: HostPort
}

nonisolated(unsafe) var children: [Child] = []
@MainActor
func start(_ name: String, _ arguments: [String], _ extra: [String: String] = [:]) async throws -> Child {
    let http = HostPort(host: "127.0.0.1", port: try FreePort.pick())
    let grpc = HostPort(host: "127.0.0.1", port: try FreePort.pick())
    let process = try Spawned.launch(
        findExecutable(name),
        ["--http-addr", http.description, "--grpc-addr", grpc.description] + arguments,
        environment: environment.merging(extra) { _, new in new },
        outputPath: NSTemporaryDirectory() + "identity-bench-\(name)-\(getpid()).log"
    )
    let child = Child(process: process, http: http, grpc: grpc)
    children.append(child)
    let deadline = ContinuousClock.now + .seconds(60)
    while true {
        var request = HTTPClientRequest(url: "http://\(http)/ready")
        request.method = .GET
        if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)), response.status == .ok {
            break
        }
        guard ContinuousClock.now < deadline, process.isRunning else { fatalError("\(name) did not become ready") }
        try await Task.sleep(for: .milliseconds(100))
    }
    return child
}

let authz = try await start(
    "authz-svc",
    [],
    ["MESH_ACL_INITIAL_MANAGEMENT_TOKEN": token, "MESH_ACL_DEFAULT_POLICY": "deny"]
)
let catalog = try await start("catalog-svc", ["--authz-addr", authz.grpc.description])
let ca = try await start(
    "ca-svc",
    ["--authz-addr", authz.grpc.description],
    // One token signs every leaf here: lift the per-token limit, the CA's own stays.
    ["MESH_CA_KEK": KeyEncryptionKey.generate().base64, "MESH_CA_CSR_RATE_PER_TOKEN": "1000000"]
)
defer {
    for child in children.reversed() { child.process.stop() }
    postgres.stop()
}
say(
    "services: authz-svc pid \(authz.process.pid), catalog-svc pid \(catalog.process.pid), ca-svc pid \(ca.process.pid)"
)

func rest(
    _ method: HTTPMethod,
    _ address: HostPort,
    _ path: String,
    token: String?,
    body: [String: Any]? = nil
) async throws -> (Int, Data) {
    var request = HTTPClientRequest(url: "http://\(address)\(path)")
    request.method = method
    if let token { request.headers.add(name: "X-Consul-Token", value: token) }
    if let body { request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body))) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    let data = Data(buffer: try await response.body.collect(upTo: 16 << 20))
    return (Int(response.status.code), data)
}

func createServiceToken(_ service: String) async throws -> (secret: String, accessor: String) {
    let (status, data) = try await rest(
        .PUT,
        authz.http,
        "/v1/acl/token",
        token: token,
        body: ["ServiceIdentities": [["ServiceName": service]]]
    )
    guard status == 200, let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
        let secret = object["SecretID"] as? String, let accessor = object["AccessorID"] as? String
    else { fatalError("token create failed: \(status)") }
    return (secret, accessor)
}

let (rootsStatus, rootsData) = try await rest(.GET, ca.http, "/v1/connect/ca/roots", token: nil)
guard rootsStatus == 200, let roots = try JSONSerialization.jsonObject(with: rootsData) as? [String: Any],
    let trustDomain = roots["TrustDomain"] as? String
else { fatalError("no roots") }

try await withGRPCClient(
    transport: try HTTP2ClientTransport.Posix(
        target: .ipv4(address: ca.grpc.host, port: ca.grpc.port),
        transportSecurity: .plaintext
    )
) { caClient in
    try await withGRPCClient(
        transport: try HTTP2ClientTransport.Posix(
            target: .ipv4(address: authz.grpc.host, port: authz.grpc.port),
            transportSecurity: .plaintext
        )
    ) { authzClient in
        let caService = Mesh_V1_CA.Client(wrapping: caClient)
        let aclService = Mesh_V1_ACL.Client(wrapping: authzClient)
        let web = try await createServiceToken("web")
        var metadata: Metadata = [:]
        metadata.addString(web.secret, forKey: "x-consul-token")
        let signMetadata = metadata

        // 1. Leaves per second vs raw P-256 signatures (CSRs made beforehand: the client's own
        //    key generation is not what is measured).
        say("\n## 1. leaf signing (one ca-svc replica, \(options.clients) gRPC clients)")
        let csrs = try (0..<256).map { _ in
            try KeyAndCSR.makeCSR(spiffeURI: "spiffe://\(trustDomain)/ns/default/dc/dc1/svc/web").csrPEM
        }
        _ = try await caService.sign(.with { $0.csrPem = csrs[0] }, metadata: signMetadata)
        var leafRates: [Double] = []
        var rawRates: [Double] = []
        for _ in 0..<3 {
            rawRates.append(rawSignRate(threads: cores, seconds: options.seconds / 2))
            leafRates.append(
                try await rate(clients: options.clients, seconds: options.seconds) { client, n in
                    let i = client * 1_000_000 + n
                    _ = try await caService.sign(.with { $0.csrPem = csrs[i % csrs.count] }, metadata: signMetadata)
                }
            )
        }
        let leaves = percentile(leafRates, 50)
        let raw = percentile(rawRates, 50)
        say("leaves/s: \(leafRates.map { fmt($0, 0) }.joined(separator: ", ")) (median \(fmt(leaves, 0)))")
        say(
            "raw P-256 signs/s on \(cores) threads: \(rawRates.map { fmt($0, 0) }.joined(separator: ", ")) (median \(fmt(raw, 0)))"
        )
        say(
            "ratio leaves/raw signs: \(fmt(leaves / raw, 3))x; target >= 2000 leaves/s: \(leaves >= 2000 ? "met" : "MISSED")"
        )

        // 2. Token resolution: uncached (the RPC, a database read) vs cached (a gate hit).
        say("\n## 2. token resolution latency")
        var uncached: [Double] = []
        for _ in 0..<2000 {
            let start = ContinuousClock.now
            _ = try await aclService.resolveToken(.with { $0.secretID = web.secret })
            uncached.append(seconds(ContinuousClock.now - start) * 1e6)
        }
        let remote = try RemoteACL(authzAddress: ServiceAddress(authz.grpc), defaultPolicy: .deny, logger: logger)
        let cached: [Double] = try await withThrowingTaskGroup(of: [Double]?.self) { group in
            let lifecycle = ServiceGroup(configuration: .init(services: [remote], logger: logger))
            group.addTask {
                try await lifecycle.run()
                return nil
            }
            group.addTask {
                _ = await remote.synced.value
                _ = try await remote.gate.caller(secret: web.secret)
                var samples: [Double] = []
                for _ in 0..<20000 {
                    let start = ContinuousClock.now
                    _ = try await remote.gate.caller(secret: web.secret)
                    samples.append(seconds(ContinuousClock.now - start) * 1e6)
                }
                await lifecycle.triggerGracefulShutdown()
                return samples
            }
            var result: [Double] = []
            for try await samples in group { if let samples { result = samples } }
            return result
        }
        say(
            "uncached (gRPC ResolveToken): p50 \(fmt(percentile(uncached, 50))) us, p99 \(fmt(percentile(uncached, 99))) us"
        )
        say(
            "cached (ACLGate hit):         p50 \(fmt(percentile(cached, 50), 2)) us, p99 \(fmt(percentile(cached, 99), 2)) us"
        )
        say("ratio uncached/cached p50: \(fmt(percentile(uncached, 50) / percentile(cached, 50), 0))x")

        // 3. Deletion until refusal by catalog-svc (REST) and ca-svc (gRPC).
        say("\n## 3. token deletion until every service refuses it (\(options.trials) trials)")
        var delays: [Double] = []
        for trial in 0..<options.trials {
            let victim = try await createServiceToken("web")
            var victimMetadata: Metadata = [:]
            victimMetadata.addString(victim.secret, forKey: "x-consul-token")
            let victimSign = victimMetadata
            // Warm both services' caches with the token.
            guard try await rest(.GET, catalog.http, "/v1/catalog/services", token: victim.secret).0 == 200 else {
                fatalError("catalog refused a live token")
            }
            _ = try await caService.sign(.with { $0.csrPem = csrs[trial % csrs.count] }, metadata: victimSign)
            let start = ContinuousClock.now
            guard try await rest(.DELETE, authz.http, "/v1/acl/token/\(victim.accessor)", token: token).0 == 200 else {
                fatalError("delete failed")
            }
            async let catalogRefused: Double = {
                while try await rest(.GET, catalog.http, "/v1/catalog/services", token: victim.secret).0 == 200 {}
                return seconds(ContinuousClock.now - start)
            }()
            async let caRefused: Double = {
                while true {
                    do {
                        _ = try await caService.sign(.with { $0.csrPem = csrs[0] }, metadata: victimSign)
                    } catch let error as RPCError where error.code == .permissionDenied {
                        return seconds(ContinuousClock.now - start)
                    }
                }
            }()
            delays.append(max(try await catalogRefused, try await caRefused) * 1000)
        }
        say(
            "until refused everywhere: p50 \(fmt(percentile(delays, 50))) ms, p99 \(fmt(percentile(delays, 99))) ms, "
                + "max \(fmt(delays.max() ?? .nan)) ms; target p99 < 1000 ms: \(percentile(delays, 99) < 1000 ? "met" : "MISSED")"
        )

        // 4. Intention checks.
        say("\n## 4. intention checks (\(options.clients) REST clients)")
        for i in 0..<100 {
            _ = try await rest(
                .PUT,
                authz.http,
                "/v1/connect/intentions/exact?source=src-\(i)&destination=dst-\(i % 10)",
                token: token,
                body: ["Action": i % 2 == 0 ? "allow" : "deny"]
            )
        }
        _ = try await rest(
            .PUT,
            authz.http,
            "/v1/connect/intentions/exact?source=*&destination=dst-1",
            token: token,
            body: ["Action": "allow"]
        )
        var checkRates: [Double] = []
        var floorRates: [Double] = []
        for _ in 0..<3 {
            floorRates.append(
                try await rate(clients: options.clients, seconds: options.seconds) { _, _ in
                    _ = try await rest(.GET, authz.http, "/healthz", token: nil)
                }
            )
            checkRates.append(
                try await rate(clients: options.clients, seconds: options.seconds) { client, n in
                    let i = client * 1_000_000 + n
                    _ = try await rest(
                        .GET,
                        authz.http,
                        "/v1/connect/intentions/check?source=src-\(i % 100)&destination=dst-\(i % 10)",
                        token: token
                    )
                }
            )
        }
        let checks = percentile(checkRates, 50)
        let floor = percentile(floorRates, 50)
        say("checks/s: \(checkRates.map { fmt($0, 0) }.joined(separator: ", ")) (median \(fmt(checks, 0)))")
        say(
            "GET /healthz/s (HTTP floor): \(floorRates.map { fmt($0, 0) }.joined(separator: ", ")) (median \(fmt(floor, 0)))"
        )
        say("ratio checks/floor: \(fmt(checks / floor, 3))x")
        var intentions: [Intention] = []
        for i in 0..<1000 {
            intentions.append(
                Intention(sourceName: "src-\(i)", destinationName: "dst-\(i % 50)", action: i % 2 == 0 ? .allow : .deny)
            )
        }
        let set = IntentionSet(intentions)
        let decisions = 200_000
        let start = ContinuousClock.now
        var allowed = 0
        for i in 0..<decisions
        where set.decide(source: "src-\(i % 1000)", destination: "dst-\(i % 50)", defaultAllow: false).allowed {
            allowed += 1
        }
        let perSecond = Double(decisions) / seconds(ContinuousClock.now - start)
        say("in-process IntentionSet.decide over 1,000 intentions: \(fmt(perSecond, 0))/s (\(allowed) allowed)")
        say(
            "\nrss: authz-svc \(rssMiB(authz.process.pid)) MiB, ca-svc \(rssMiB(ca.process.pid)) MiB, catalog-svc \(rssMiB(catalog.process.pid)) MiB"
        )
    }
}

func rssMiB(_ pid: pid_t) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
    }
    return 0
}
