import Foundation
import MeshCore
import MeshTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import Proxy
import Synchronization
import Testing

/// Mutations of valid HTTP/1.1 requests: byte changes, insertions of the tokens parsers trip on,
/// deletions, duplications, truncation, spellings of a denied path, and header floods.
enum HTTPMutator {
    static let seeds = [
        "GET /ok HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n",
        "POST /upload HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        "POST /chunks HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost: api\r\n\r\nGET /b HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n",
        "GET /admin/users HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n",
        "DELETE /x?y=1#z HTTP/1.0\r\n\r\n",
    ]
    static let tokens = [
        "\r\n", "\r", "\n", "\0", "%", "%2F", "%2f", "%5C", "%00", "/../", "//", "/./", " ", ":", "\t", "\\",
        "Transfer-Encoding: chunked\r\n", "Content-Length: 99999999999999999999\r\n", "Content-Length: -1\r\n",
        "Host: a\r\nHost: b\r\n", "X_Under: 1\r\n", "\u{7F}", "\u{FF}", "HTTP/9.9", "ffffffffffffffff\r\n",
    ]
    static let deniedSpellings = [
        "/admin", "//admin", "/%61dmin", "/./admin", "/x/../admin", "/admin%2F", "/%2561dmin",
    ]

    static func mutate(_ seed: [UInt8], using rng: inout SeededGenerator) -> [UInt8] {
        var bytes = seed
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0 where !bytes.isEmpty:
                bytes[at] = UInt8.random(in: 0...255, using: &rng)
            case 1:
                bytes.insert(contentsOf: Array(Self.tokens.randomElement(using: &rng)!.utf8), at: at)
            case 2 where !bytes.isEmpty:
                bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...16, using: &rng)))
            case 3 where !bytes.isEmpty:
                let end = min(bytes.count, at + Int.random(in: 1...64, using: &rng))
                bytes.insert(contentsOf: bytes[at..<end], at: at)
            case 4:
                bytes = Array(bytes.prefix(at))
            case 5:
                // The target becomes a spelling of the denied path.
                if let space = bytes.firstIndex(of: 0x20),
                    let next = bytes[(space + 1)...].firstIndex(of: 0x20)
                {
                    let spelling = Self.deniedSpellings.randomElement(using: &rng)!
                    bytes.replaceSubrange((space + 1)..<next, with: Array(spelling.utf8))
                }
            default:
                let flood = String(repeating: "X-Flood: y\r\n", count: Int.random(in: 10...2_000, using: &rng))
                bytes.insert(contentsOf: Array(flood.utf8), at: at)
            }
        }
        return bytes
    }
}

extension MemoryMeasuringTests {
    /// The proxy's parsers under a seeded mutation fuzzer (issue 14): HTTP/1.1 through the public
    /// listener (TLS, then the L7 path) and through an HTTP upstream listener, and malformed TLS
    /// records at the public listener. No crash, no stall (a plain request goes through between
    /// batches), memory bounded, and no spelling of the denied `/admin` ever reaches the app.
    @Suite(.timeLimit(.minutes(3))) struct ProxyParserFuzzTests {
        let group = MultiThreadedEventLoopGroup.singleton
        let pki: TestPKI

        init() throws {
            self.pki = try TestPKI()
        }

        /// An app that records every request target it receives and answers 200.
        final class RecordingApp: ChannelInboundHandler, Sendable {
            typealias InboundIn = HTTPServerRequestPart
            typealias OutboundOut = HTTPServerResponsePart
            let targets = Mutex<[String]>([])

            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                switch Self.unwrapInboundIn(data) {
                case .head(let head): self.targets.withLock { $0.append(head.uri) }
                case .body: break
                case .end:
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Length", value: "2")
                    context.write(
                        Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                        promise: nil
                    )
                    context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "ok")))), promise: nil)
                    context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
                }
            }
        }

        /// Sends `bytes` on a new connection and reads what comes back for at most `window`; the
        /// bytes received.
        static func exchange(port: Int, _ bytes: [UInt8], window: Duration, group: any EventLoopGroup) async -> [UInt8]
        {
            guard
                let channel = try? await ClientBootstrap(group: group).connect(
                    host: "127.0.0.1",
                    port: port,
                    channelInitializer: { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                        }
                    }
                )
            else { return [] }
            return
                (try? await channel.executeThenClose { inbound, outbound in
                    try? await outbound.write(ByteBuffer(bytes: bytes))
                    return await withTaskGroup(of: [UInt8]?.self) { race in
                        race.addTask {
                            var received: [UInt8] = []
                            do {
                                for try await chunk in inbound {
                                    received += chunk.readableBytesView
                                    if received.count > 1 << 20 { break }
                                }
                            } catch {}
                            return received
                        }
                        race.addTask {
                            try? await Task.sleep(for: window)
                            return nil
                        }
                        defer { race.cancelAll() }
                        return (await race.next() ?? nil) ?? []
                    }
                }) ?? []
        }

        /// Runs `cases` mutated inputs against `port`, eight at a time, with `probe` (a plain request,
        /// which answers nil when it was served, else what went wrong) after every batch; returns
        /// the slowest probe's time.
        static func fuzz(
            port: Int,
            cases: Int,
            seed: UInt64,
            input: @escaping @Sendable (inout SeededGenerator) -> [UInt8],
            group: any EventLoopGroup,
            probe: @Sendable () async -> String?
        ) async -> Duration {
            var rng = SeededGenerator(seed: seed)
            var slowestProbe = Duration.zero
            for batch in stride(from: 0, to: cases, by: 8) {
                let inputs = (batch..<min(cases, batch + 8)).map { _ in input(&rng) }
                await withTaskGroup(of: Void.self) { parallel in
                    for bytes in inputs {
                        parallel.addTask {
                            _ = await Self.exchange(port: port, bytes, window: .milliseconds(300), group: group)
                        }
                    }
                }
                let start = ContinuousClock.now
                let failure = await probe()
                slowestProbe = max(slowestProbe, ContinuousClock.now - start)
                if let failure { Issue.record("seed \(seed): the probe after case \(batch): \(failure)") }
            }
            return slowestProbe
        }

        /// A plain HTTP/1.1 request to `port`: nil when answered 200 within 10 s.
        static func probeHTTP1(port: Int, group: any EventLoopGroup) async -> String? {
            let request = Array("GET /ok HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n".utf8)
            let answer = await Self.exchange(port: port, request, window: .seconds(10), group: group)
            let text = String(decoding: answer.prefix(80), as: UTF8.self)
            return text.hasPrefix("HTTP/1.1 200") ? nil : "answered \"\(text)\""
        }

        @Test(
            "HTTP/1.1 and TLS input mutated from valid requests: no crash, no stall, bounded memory, /admin never reaches the app"
        )
        func mutatedInputs() async throws {
            let app = RecordingApp()
            let appChannel = try await ServerBootstrap(group: self.group)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(app)
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            defer { appChannel.close(promise: nil) }
            var api = sidecar("api", appPort: appChannel.localAddress!.port!, intentions: adminDenied)
            api.protocolName = "http"
            try await withProxy(api, tls: try self.pki.tls(for: "api"), group: self.group) { apiProxy in
                let publicPort = try #require(await apiProxy.boundPublicPort())
                // Two upstream listeners to api: TCP (the bytes reach api's HTTP parser after TLS) and
                // HTTP (web's own HTTP/1.1 parser first).
                var web = sidecar(
                    "web",
                    appPort: 1,
                    upstreams: [
                        upstream("api", ports: [publicPort]),
                        upstream("api-http", ports: [publicPort], expect: TestPKI.identity("api")),
                    ]
                )
                web.upstreams[1].protocolName = "http"
                try await withProxy(web, tls: try self.pki.tls(for: "web"), group: self.group) { webProxy in
                    let tcpPort = try #require(await webProxy.boundUpstreamPort("api"))
                    let httpPort = try #require(await webProxy.boundUpstreamPort("api-http"))
                    let before = residentBytes()
                    let seeds = HTTPMutator.seeds.map { Array($0.utf8) }
                    let http: @Sendable (inout SeededGenerator) -> [UInt8] = { rng in
                        HTTPMutator.mutate(seeds.randomElement(using: &rng)!, using: &rng)
                    }
                    let tls: @Sendable (inout SeededGenerator) -> [UInt8] = { rng in
                        // A TLS record header (handshake or other type, any version and length) and random bytes.
                        let header: [UInt8] = [
                            [0x16, 0x17, 0x15, 0x14, UInt8.random(in: 0...255, using: &rng)].randomElement(
                                using: &rng
                            )!,
                            0x03, UInt8.random(in: 0...4, using: &rng), UInt8.random(in: 0...255, using: &rng),
                            UInt8.random(in: 0...255, using: &rng),
                        ]
                        return header
                            + (0..<Int.random(in: 0...600, using: &rng)).map { _ in
                                UInt8.random(in: 0...255, using: &rng)
                            }
                    }
                    // The public listener's HTTP parser (after mTLS), the HTTP upstream listener's own,
                    // and TLS records at the public listener.
                    let runs:
                        [(port: Int, probe: Int, cases: Int, input: @Sendable (inout SeededGenerator) -> [UInt8])] = [
                            (tcpPort, tcpPort, 240, http), (httpPort, httpPort, 240, http),
                            (publicPort, tcpPort, 120, tls),
                        ]
                    var slowest = Duration.zero
                    for (seed, run) in runs.enumerated() {
                        let group = self.group
                        let probe = await Self.fuzz(
                            port: run.port,
                            cases: run.cases,
                            seed: UInt64(seed + 1),
                            input: run.input,
                            group: group
                        ) { await Self.probeHTTP1(port: run.probe, group: group) }
                        slowest = max(slowest, probe)
                    }
                    let growth = residentBytes() - before
                    let seen = app.targets.withLock { $0 }
                    #expect(!seen.contains { $0.hasPrefix("/admin") }, "\(seen.filter { $0.hasPrefix("/admin") })")
                    #expect(seen.count > 100, "requests reached the app: \(seen.count)")
                    #expect(slowest < .seconds(5), "slowest probe \(slowest)")
                    #expect(growth < 128 << 20, "resident memory grew by \(growth) bytes")
                    print(
                        "proxy parser fuzz: 600 cases, \(seen.count) requests reached the app, slowest probe \(slowest), RSS +\(growth / 1024) KiB"
                    )
                }
            }
        }
    }
}
