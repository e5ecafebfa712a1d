import MeshCore
import MeshTesting
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import Proxy
import Synchronization
import Testing

/// HTTP/2 frame sequences for the fuzzer: a client preface and SETTINGS, then frames chosen
/// among valid requests (some for spellings of the denied path), DATA, unknown types, hostile
/// SETTINGS and WINDOW_UPDATE values, rapid resets, CONTINUATION, PING and PRIORITY floods,
/// GOAWAY; then, sometimes, byte-level damage.
enum H2Frames {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    static let paths = ["/ok", "/ok?x=1", "/admin", "//admin", "/%61dmin", "/./admin", "/x/../admin", "/admin%2F"]

    static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        return [
            UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF), type, flags,
            UInt8((stream >> 24) & 0x7F), UInt8((stream >> 16) & 0xFF), UInt8((stream >> 8) & 0xFF),
            UInt8(stream & 0xFF),
        ] + payload
    }

    static func headerBlock(path: String, method: String = "GET") -> [UInt8] {
        var encoder = HPACKEncoder(allocator: ByteBufferAllocator(), useHuffmanEncoding: false)
        var buffer = ByteBuffer()
        let headers: HPACKHeaders = [":method": method, ":scheme": "http", ":path": path, ":authority": "api"]
        try? encoder.encode(headers: headers, to: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// HEADERS (END_HEADERS, and END_STREAM unless a body follows).
    static func request(path: String, stream: UInt32, endStream: Bool = true) -> [UInt8] {
        Self.frame(type: 0x1, flags: endStream ? 0x5 : 0x4, stream: stream, payload: Self.headerBlock(path: path))
    }

    static func settings(_ pairs: [(UInt16, UInt32)] = []) -> [UInt8] {
        var payload: [UInt8] = []
        for (id, value) in pairs {
            payload += [UInt8(id >> 8), UInt8(id & 0xFF)]
            payload += [
                UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF),
            ]
        }
        return Self.frame(type: 0x4, flags: 0, stream: 0, payload: payload)
    }

    static func word(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    /// A plain request: the probe.
    static let probe = Self.preface + Self.settings() + Self.request(path: "/ok", stream: 1)

    static func mutated(using rng: inout SeededGenerator) -> [UInt8] {
        var bytes = Self.preface + Self.settings()
        var stream: UInt32 = 1
        for _ in 0..<Int.random(in: 1...8, using: &rng) {
            switch Int.random(in: 0..<11, using: &rng) {
            case 0, 1:
                bytes += Self.request(path: Self.paths.randomElement(using: &rng)!, stream: stream)
                stream += 2
            case 2:
                bytes += Self.request(path: Self.paths.randomElement(using: &rng)!, stream: stream, endStream: false)
                let body = (0..<Int.random(in: 0...2_000, using: &rng)).map { _ in
                    UInt8.random(in: 0...255, using: &rng)
                }
                bytes += Self.frame(type: 0x0, flags: Bool.random(using: &rng) ? 1 : 0, stream: stream, payload: body)
                stream += 2
            case 3:
                let payload = (0..<Int.random(in: 0...64, using: &rng)).map { _ in
                    UInt8.random(in: 0...255, using: &rng)
                }
                bytes += Self.frame(
                    type: UInt8.random(in: 0...15, using: &rng),
                    flags: UInt8.random(in: 0...255, using: &rng),
                    stream: [0, 1, 2, stream, UInt32.random(in: 0...0x7FFF_FFFF, using: &rng)].randomElement(
                        using: &rng
                    )!,
                    payload: payload
                )
            case 4:
                let pairs = (0..<Int.random(in: 1...6, using: &rng)).map { _ in
                    (
                        UInt16.random(in: 0...10, using: &rng),
                        [0, 1, 16_383, 16_384, 65_535, 0x7FFF_FFFF, 0x8000_0000, UInt32.max].randomElement(using: &rng)!
                    )
                }
                bytes += Self.settings(pairs)
            case 5:
                let increment: UInt32 = [0, 1, 0x7FFF_FFFF].randomElement(using: &rng)!
                bytes += Self.frame(
                    type: 0x8,
                    flags: 0,
                    stream: [0, 1, stream].randomElement(using: &rng)!,
                    payload: Self.word(increment)
                )
            case 6:
                // Rapid reset: a request and its RST_STREAM, many times.
                for _ in 0..<Int.random(in: 10...300, using: &rng) {
                    bytes += Self.request(path: "/ok", stream: stream, endStream: false)
                    bytes += Self.frame(type: 0x3, flags: 0, stream: stream, payload: Self.word(8))
                    stream += 2
                }
            case 7:
                // A header block that never ends: HEADERS without END_HEADERS, then CONTINUATIONs.
                let block = Self.headerBlock(path: "/ok")
                bytes += Self.frame(type: 0x1, flags: 0x1, stream: stream, payload: block)
                for _ in 0..<Int.random(in: 10...500, using: &rng) {
                    bytes += Self.frame(type: 0x9, flags: 0, stream: stream, payload: Array(repeating: 0x40, count: 16))
                }
                stream += 2
            case 8:
                for n in 0..<Int.random(in: 10...500, using: &rng) {
                    bytes += Self.frame(type: 0x6, flags: 0, stream: 0, payload: Self.word(UInt32(n)) + Self.word(0))
                }
            case 9:
                // PRIORITY, sometimes depending on itself.
                let on = Bool.random(using: &rng) ? stream : 0
                bytes += Self.frame(type: 0x2, flags: 0, stream: stream, payload: Self.word(on) + [16])
            default:
                bytes += Self.frame(type: 0x7, flags: 0, stream: 0, payload: Self.word(0) + Self.word(2))
            }
        }
        // Byte-level damage after the preface, sometimes.
        for _ in 0..<Int.random(in: 0...3, using: &rng) where bytes.count > Self.preface.count {
            let at = Int.random(in: Self.preface.count..<bytes.count, using: &rng)
            if Bool.random(using: &rng) {
                bytes[at] = UInt8.random(in: 0...255, using: &rng)
            } else {
                bytes = Array(bytes.prefix(at))
            }
        }
        return bytes
    }

    /// The `:status` of the first response HEADERS on stream 1 in `bytes`, if any.
    static func status(in bytes: [UInt8]) -> String? {
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
        var at = 0
        while at + 9 <= bytes.count {
            let length = Int(bytes[at]) << 16 | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2])
            let type = bytes[at + 3]
            let stream =
                UInt32(bytes[at + 5] & 0x7F) << 24 | UInt32(bytes[at + 6]) << 16 | UInt32(bytes[at + 7]) << 8
                | UInt32(bytes[at + 8])
            guard at + 9 + length <= bytes.count else { return nil }
            if type == 0x1 {
                var block = ByteBuffer(bytes: bytes[(at + 9)..<(at + 9 + length)])
                if let headers = try? decoder.decodeHeaders(from: &block), stream == 1 {
                    return headers.first(name: ":status")
                }
            }
            at += 9 + length
        }
        return nil
    }
}

extension MemoryMeasuringTests {
    /// The proxies' HTTP/2 parsers under the seeded frame fuzzer (issue 14): frame sequences sent to
    /// an `http2` upstream listener (the web proxy's own HTTP/2 server) and, through a TCP upstream,
    /// to the public listener's HTTP/2 server after mTLS. No crash, no stall (a plain request is
    /// answered between batches), memory bounded, and no spelling of the denied `/admin` ever
    /// reaches the app.
    @Suite(.timeLimit(.minutes(3))) struct ProxyH2FuzzTests {
        let group = MultiThreadedEventLoopGroup.singleton
        let pki: TestPKI

        init() throws {
            self.pki = try TestPKI()
        }

        /// An h2c app that records every request's `:path` and answers 200.
        final class RecordingApp: Sendable {
            let paths = Mutex<[String]>([])

            final class Stream: ChannelInboundHandler {
                typealias InboundIn = HTTP2Frame.FramePayload
                typealias OutboundOut = HTTP2Frame.FramePayload
                let app: RecordingApp

                init(app: RecordingApp) { self.app = app }

                func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                    guard case .headers(let headers) = Self.unwrapInboundIn(data) else { return }
                    let path = headers.headers.first(name: ":path") ?? ""
                    self.app.paths.withLock { $0.append(path) }
                    let response = HPACKHeaders([(":status", "200"), ("content-length", "0")])
                    context.writeAndFlush(
                        Self.wrapOutboundOut(.headers(.init(headers: response, endStream: true))),
                        promise: nil
                    )
                }
            }
        }

        /// Sends a plain request on a new connection; the response's `:status`, once its HEADERS
        /// have arrived (the connection stays open), or nil after `within`.
        static func probe(port: Int, within window: Duration, group: any EventLoopGroup) async -> String? {
            let connected = try? await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
            guard let channel = connected else { return nil }
            let giveUp = channel.channel.eventLoop.scheduleTask(in: TimeAmount(window)) {
                channel.channel.close(promise: nil)
            }
            defer { giveUp.cancel() }
            return try? await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(bytes: H2Frames.probe))
                var received: [UInt8] = []
                for try await chunk in inbound {
                    received += chunk.readableBytesView
                    if let status = H2Frames.status(in: received) { return status }
                }
                return nil
            }
        }

        @Test(
            "HTTP/2 frame sequences mutated and hostile: no crash, no stall, bounded memory, /admin never reaches the app"
        )
        func mutatedFrames() async throws {
            let app = RecordingApp()
            let appChannel = try await ServerBootstrap(group: self.group)
                .childChannelInitializer { channel in
                    channel.configureHTTP2Pipeline(mode: .server) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(RecordingApp.Stream(app: app))
                        }
                    }.map { _ in }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            defer { appChannel.close(promise: nil) }
            var api = sidecar("api", appPort: appChannel.localAddress!.port!, intentions: adminDenied)
            api.protocolName = "http2"
            try await withProxy(api, tls: try self.pki.tls(for: "api"), group: self.group) { apiProxy in
                let publicPort = try #require(await apiProxy.boundPublicPort())
                var web = sidecar(
                    "web",
                    appPort: 1,
                    upstreams: [
                        upstream("api", ports: [publicPort]),
                        upstream("api-tcp", ports: [publicPort], expect: TestPKI.identity("api")),
                    ]
                )
                web.upstreams[0].protocolName = "http2"
                try await withProxy(web, tls: try self.pki.tls(for: "web"), group: self.group) { webProxy in
                    let h2Port = try #require(await webProxy.boundUpstreamPort("api"))
                    let tcpPort = try #require(await webProxy.boundUpstreamPort("api-tcp"))
                    let before = residentBytes()
                    var slowest = Duration.zero
                    // The web proxy's HTTP/2 server, then api's public listener's (through the TCP upstream).
                    for (seed, port) in [(UInt64(11), h2Port), (UInt64(12), tcpPort)] {
                        let group = self.group
                        let probe = await ProxyParserFuzzTests.fuzz(
                            port: port,
                            cases: 200,
                            seed: seed,
                            input: { rng in H2Frames.mutated(using: &rng) },
                            group: group
                        ) {
                            let status = await Self.probe(port: port, within: .seconds(10), group: group)
                            return status == "200" ? nil : "status \(status ?? "none")"
                        }
                        slowest = max(slowest, probe)
                    }
                    let growth = residentBytes() - before
                    let seen = app.paths.withLock { $0 }
                    #expect(!seen.contains { $0.hasPrefix("/admin") }, "\(seen.filter { $0.hasPrefix("/admin") })")
                    // Besides the 50 probes, mutated requests for allowed paths got through too.
                    #expect(seen.count > 60, "requests reached the app: \(seen.count)")
                    #expect(growth < 128 << 20, "resident memory grew by \(growth) bytes")
                    print(
                        "proxy HTTP/2 frame fuzz: 400 cases and 50 probes, \(seen.count) requests reached the app, slowest probe \(slowest), RSS +\(growth / 1024) KiB"
                    )
                }
            }
        }
    }
}
