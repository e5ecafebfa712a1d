import MeshCore
import NIOCore
import NIOHTTP2
import NIOPosix
import NIOSSL
import Prometheus
import Synchronization

/// One client HTTP/2 connection (to a peer proxy over mTLS, or to the local app in clear) that
/// carries many requests at once, each on its own stream.
///
/// Its state is confined to its event loop: the proxy opens it on the loop of the connection that
/// needed it and only uses it from there, so spliced streams never cross loops.
final class H2Client: Sendable {
    let channel: any Channel
    private let multiplexer: NIOLoopBound<NIOHTTP2Handler.StreamMultiplexer>
    private let streams: NIOLoopBoundBox<(open: Int, retired: Bool)>
    /// The last stream the peer's latest GOAWAY said it may process (nil before any GOAWAY).
    private let goAwayLastStream: NIOLoopBoundBox<HTTP2StreamID?>

    private init(channel: any Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer) {
        self.channel = channel
        self.multiplexer = NIOLoopBound(multiplexer, eventLoop: channel.eventLoop)
        self.streams = NIOLoopBoundBox((0, false), eventLoop: channel.eventLoop)
        self.goAwayLastStream = NIOLoopBoundBox(nil, eventLoop: channel.eventLoop)
        self.onGoAway = NIOLoopBoundBox(nil, eventLoop: channel.eventLoop)
    }

    /// Calls `body` (on the connection's loop) when the peer sends GOAWAY.
    func whenGoingAway(_ body: @escaping () -> Void) {
        self.onGoAway.value = body
    }

    /// The peer sent GOAWAY: streams opened from now on would be dropped unprocessed (NIOHTTP2
    /// closes those above the peer's last stream with CANCEL), so the connection is retired and
    /// the next request opens a new one.
    fileprivate func goAwayReceived(lastStream: HTTP2StreamID) {
        self.goAwayLastStream.value = lastStream
        self.retire()
        self.onGoAway.value?()
        self.onGoAway.value = nil
    }

    /// Whether the peer's GOAWAY left `stream` out: its request was not processed (RFC 9113
    /// §6.8), though NIOHTTP2 reports the stream closed with CANCEL, as if reset.
    func goAwayLeftOut(_ stream: HTTP2StreamID) -> Bool {
        guard let last = self.goAwayLastStream.value else { return false }
        return stream > last
    }

    /// Open and taking new streams (not retired, no GOAWAY from the peer).
    var isActive: Bool { self.channel.isActive && !self.streams.value.retired }
    /// Told when the peer sent GOAWAY (the pool then stops handing this connection out).
    private let onGoAway: NIOLoopBoundBox<(() -> Void)?>

    /// Connects to `host:port` on `eventLoop`; with `tls`, the handshake must complete and
    /// `expectedIdentity` (when given) must be the peer's SPIFFE ID before the connection is used.
    /// The connection is handed out once the peer's HTTP/2 preface (its SETTINGS) arrived, within
    /// `timeout` again: a server speaks first, so one that has not cannot have taken a request.
    /// Without the wait, a connection the kernel queued in a stopping app's listen backlog took
    /// a request and was then reset with it (the app never accepted it), and the caller saw the
    /// request cancelled instead of refused and sent elsewhere.
    static func connect(
        host: String,
        port: Int,
        on eventLoop: any EventLoop,
        tls: NIOSSLContext?,
        expectedIdentity: SPIFFEID?,
        timeout: TimeAmount
    ) -> EventLoopFuture<H2Client> {
        UpstreamDialer.connect(
            host: host,
            port: port,
            on: eventLoop,
            tls: tls,
            expectedIdentity: expectedIdentity,
            timeout: timeout
        ).flatMap { connection in
            let channel = connection.channel
            let preface = eventLoop.makePromise(of: Void.self)
            do {
                let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                    mode: .client,
                    connectionConfiguration: .init(),
                    streamConfiguration: .init()
                ) { stream in
                    // The peer opens no streams towards a client.
                    stream.close()
                }
                let watcher = PeerFrameWatcher(preface: preface)
                try channel.pipeline.syncOperations.addHandler(watcher)
                try channel.pipeline.syncOperations.addHandler(H2ConnectionErrorCloser())
                let client = H2Client(channel: channel, multiplexer: multiplexer)
                watcher.client = client
                let deadline = eventLoop.scheduleTask(in: timeout) {
                    preface.fail(ProxyError(.noPreface, "no HTTP/2 preface from \(host):\(port) in \(timeout)"))
                }
                return preface.futureResult.map {
                    deadline.cancel()
                    return client
                }.flatMapErrorThrowing { error in
                    deadline.cancel()
                    channel.close(promise: nil)
                    throw error
                }
            } catch {
                channel.close(promise: nil)
                return eventLoop.makeFailedFuture(error)
            }
        }
    }

    /// Opens a stream whose pipeline gets `handler`; the connection counts it while it is open.
    func openStream(_ handler: NIOLoopBound<StreamGlue>) -> EventLoopFuture<any Channel> {
        self.openStream(
            NIOLoopBound(
                { stream in
                    handler.value.connection = self
                    try stream.pipeline.syncOperations.addHandler(handler.value)
                },
                eventLoop: self.channel.eventLoop
            )
        )
    }

    /// Opens a stream whose pipeline `configure` sets up (on the connection's loop).
    func openStream(_ configure: NIOLoopBound<(any Channel) throws -> Void>) -> EventLoopFuture<any Channel> {
        self.streams.value.open += 1
        let future = self.multiplexer.value.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture {
                try configure.value(stream)
            }
        }
        future.whenComplete { result in
            switch result {
            case .success(let stream): stream.closeFuture.whenComplete { _ in self.streamClosed() }
            case .failure: self.streamClosed()
            }
        }
        return future
    }

    /// No new streams from now on; the connection closes once its last stream has (a new leaf or
    /// a new config replaced it, so in-flight requests finish on it).
    func retire() {
        self.streams.value.retired = true
        if self.streams.value.open == 0 { self.channel.close(promise: nil) }
    }

    private func streamClosed() {
        self.streams.value.open -= 1
        if self.streams.value.retired && self.streams.value.open == 0 { self.channel.close(promise: nil) }
    }
}

extension NIOHTTP2Errors.StreamClosed {
    /// Whether the peer closed the stream without processing its request (RFC 9113 §8.7): it
    /// refused it (REFUSED_STREAM), or the GOAWAY it sent on `connection` left the stream out.
    func unprocessed(on connection: H2Client?) -> Bool {
        self.errorCode == .refusedStream || connection?.goAwayLeftOut(self.streamID) == true
    }
}

/// Watches the frames of a client connection's stream 0: completes `preface` when the peer's
/// SETTINGS arrive (fails it if the connection closes first), and retires the connection's
/// ``H2Client`` when the peer sends GOAWAY.
private final class PeerFrameWatcher: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    var client: H2Client?
    private let preface: EventLoopPromise<Void>
    private var prefaceRead = false

    init(preface: EventLoopPromise<Void>) {
        self.preface = preface
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data).payload {
        case .settings(.settings) where !self.prefaceRead:
            self.prefaceRead = true
            // After the frame went on: the first requests start from this promise's callbacks.
            context.fireChannelRead(data)
            self.preface.succeed()
            return
        case .goAway(let lastStream, _, _): self.client?.goAwayReceived(lastStream: lastStream)
        default: break
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.prefaceRead {
            self.preface.fail(ProxyError(.noPreface, "the connection closed before the peer's HTTP/2 preface"))
        }
        context.fireChannelInactive()
    }
}

/// The proxy's HTTP/2 connections to upstream endpoints, one per (event loop, endpoint), reused by
/// every request of every app connection on that loop.
final class H2Pool: Sendable {
    private struct Key: Hashable {
        let loop: ObjectIdentifier
        let endpoint: ProxyEndpoint
    }

    private struct Entry {
        let client: EventLoopFuture<H2Client>
        let tls: ObjectIdentifier
    }

    private let entries = Mutex<[Key: Entry]>([:])
    /// Counts the connections made (TLS client handshakes that succeeded).
    private let handshakes: Counter?

    init(handshakes: Counter? = nil) {
        self.handshakes = handshakes
    }

    /// The connection to `endpoint` for requests on `eventLoop`: an open one made with the same TLS
    /// context, or a new one (the old one retired).
    func client(
        for endpoint: ProxyEndpoint,
        on eventLoop: any EventLoop,
        tls: NIOSSLContext,
        expectedIdentity: SPIFFEID,
        timeout: TimeAmount
    ) -> EventLoopFuture<H2Client> {
        let key = Key(loop: ObjectIdentifier(eventLoop), endpoint: endpoint)
        let tlsID = ObjectIdentifier(tls)
        let (future, replaced, created) = self.entries.withLock {
            entries -> (EventLoopFuture<H2Client>, Entry?, Bool) in
            if let entry = entries[key], entry.tls == tlsID { return (entry.client, nil, false) }
            let future = H2Client.connect(
                host: endpoint.address,
                port: endpoint.port,
                on: eventLoop,
                tls: tls,
                expectedIdentity: expectedIdentity,
                timeout: timeout
            )
            let replaced = entries.updateValue(Entry(client: future, tls: tlsID), forKey: key)
            return (future, replaced, true)
        }
        // Only for a connection made now: a callback per request on a long-lived connection's
        // close would pile up for its whole life (it did: ~170 bytes per request).
        guard created else { return future }
        replaced?.client.whenSuccess { $0.retire() }
        future.whenComplete { result in
            switch result {
            case .success(let client):
                self.handshakes?.increment()
                client.channel.closeFuture.whenComplete { _ in self.forget(key, future) }
                client.whenGoingAway { self.forget(key, future) }
            case .failure:
                self.forget(key, future)
            }
        }
        return future
    }

    /// Drops a failed or closed connection, unless it was already replaced.
    private func forget(_ key: Key, _ future: EventLoopFuture<H2Client>) {
        self.entries.withLock { entries in
            if let entry = entries[key], entry.client === future { entries[key] = nil }
        }
    }

    /// Retires the connections to endpoints no longer in any upstream (a new snapshot).
    func keep(only endpoints: Set<ProxyEndpoint>) {
        let dropped = self.entries.withLock { entries -> [Entry] in
            let gone = entries.filter { !endpoints.contains($0.key.endpoint) }
            for key in gone.keys { entries[key] = nil }
            return Array(gone.values)
        }
        for entry in dropped { entry.client.whenSuccess { $0.retire() } }
    }

    func closeAll() {
        let all = self.entries.withLock { entries -> [Entry] in
            defer { entries = [:] }
            return Array(entries.values)
        }
        for entry in all { entry.client.whenSuccess { $0.channel.close(promise: nil) } }
    }
}
