public import NIOCore
import NIOSSL
import NIOTLS
import Synchronization

/// Counts a listener's open connections against its cap and, when asked to (`tracking`: gRPC
/// servers, whose shutdown needs it), keeps them, so that a stopping server can close what its
/// drain left (``closeAll()``). The proxy's listeners do not track: they drain by themselves, and
/// a lock per accepted connection would sit on their data path.
public final class ConnectionCounter: Sendable {
    /// The cap.
    public let limit: Int
    private let open = Atomic<Int>(0)
    private let refused = Atomic<Int>(0)
    /// The open connections, when tracked.
    private let channels: Mutex<[ObjectIdentifier: any Channel]>?

    public init(limit: Int, tracking: Bool = false) {
        self.limit = limit
        self.channels = tracking ? Mutex([:]) : nil
    }

    /// Connections open now.
    public var current: Int { self.open.load(ordering: .relaxed) }
    /// Connections closed at once because the cap was reached, since start.
    public var refusedTotal: Int { self.refused.load(ordering: .relaxed) }

    /// Takes a place; false (nothing taken) when the cap is reached.
    func tryOpen() -> Bool {
        let now = self.open.wrappingAdd(1, ordering: .relaxed).newValue
        guard now <= self.limit else {
            self.open.wrappingSubtract(1, ordering: .relaxed)
            self.refused.wrappingAdd(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func close() {
        self.open.wrappingSubtract(1, ordering: .relaxed)
    }

    func track(_ channel: any Channel) {
        self.channels?.withLock { $0[ObjectIdentifier(channel)] = channel }
    }

    func untrack(_ channel: any Channel) {
        self.channels?.withLock { $0[ObjectIdentifier(channel)] = nil }
    }

    /// Closes every connection still open: for a server whose graceful drain is over. (grpc-swift
    /// closes a connection at shutdown only once the peer acknowledged its GOAWAY ping, so a
    /// half-open peer, one that went away without a FIN, would hold the server forever.)
    public func closeAll() {
        let open: [any Channel] =
            self.channels?.withLock { channels in
                defer { channels = [:] }
                return Array(channels.values)
            } ?? []
        for channel in open { channel.close(promise: nil) }
    }
}

/// The first handler of an accepted connection: closes it at once past the listener's cap,
/// closes it when its handshake does not finish within the limit (a TLS handshake, seen by a
/// ``HandshakeWatcher`` after the TLS handler, or in plain text the first bytes read), and,
/// with an idle timeout, when nothing is read or written for that long.
public final class ConnectionGuard: ChannelDuplexHandler {
    public typealias InboundIn = NIOAny
    public typealias OutboundIn = NIOAny

    private let counter: ConnectionCounter
    private let limits: ListenerLimits
    private let waitsForTLS: Bool
    private var counted = false
    private var started = false
    private var deadline: Scheduled<Void>?
    private var idleCheck: RepeatedTask?
    /// Set by every read and write (a store, not a clock read, on the data path); the idle check
    /// clears it and counts the checks that found it clear.
    private var active = true
    private var quietChecks = 0

    public init(counter: ConnectionCounter, limits: ListenerLimits, waitsForTLS: Bool) {
        self.counter = counter
        self.limits = limits
        self.waitsForTLS = waitsForTLS
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.start(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard !self.started else { return }
        self.started = true
        guard self.counter.tryOpen() else {
            context.close(promise: nil)
            return
        }
        self.counted = true
        self.counter.track(context.channel)
        let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        if let handshake = self.limits.handshakeTimeout {
            self.deadline = context.eventLoop.scheduleTask(in: TimeAmount(handshake)) {
                loopContext.value.close(promise: nil)
            }
        }
        if let idle = self.limits.idleTimeout {
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            // Checked at a quarter of the timeout: a connection closes after 4 quiet checks, so
            // between 1 and 1.25 timeouts of silence.
            let quarter = TimeAmount.nanoseconds(TimeAmount(idle).nanoseconds / 4)
            self.idleCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: quarter, delay: quarter) { _ in
                if handler.value.quietCheck() { loopContext.value.close(promise: nil) }
            }
        }
    }

    /// The handshake finished: the deadline no longer applies.
    public func handshakeCompleted() {
        self.deadline?.cancel()
        self.deadline = nil
    }

    /// Whether the connection has now been quiet for four checks in a row.
    private func quietCheck() -> Bool {
        if self.active {
            self.active = false
            self.quietChecks = 0
            return false
        }
        self.quietChecks += 1
        return self.quietChecks >= 4
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.active = true
        if !self.waitsForTLS { self.handshakeCompleted() }
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        self.active = true
        context.write(data, promise: promise)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.stop(context: context)
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.stop(context: context)
    }

    private func stop(context: ChannelHandlerContext) {
        self.deadline?.cancel()
        self.deadline = nil
        self.idleCheck?.cancel()
        self.idleCheck = nil
        if self.counted {
            self.counted = false
            self.counter.untrack(context.channel)
            self.counter.close()
        }
    }
}

/// Placed after a TLS server handler: tells the ``ConnectionGuard`` when the handshake finished.
public final class HandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = NIOAny
    private let guardHandler: ConnectionGuard

    public init(guardHandler: ConnectionGuard) {
        self.guardHandler = guardHandler
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { self.guardHandler.handshakeCompleted() }
        context.fireUserInboundEventTriggered(event)
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Puts a ``ConnectionGuard`` first in an accepted connection's pipeline, and a
    /// ``HandshakeWatcher`` after its TLS handler when it has one (the handshake deadline then
    /// ends with the TLS handshake; without TLS, with the first bytes read). With
    /// `acceptedPeers` and TLS, a ``PeerNameCheck`` after the TLS handler too.
    public func addConnectionGuard(
        counter: ConnectionCounter,
        limits: ListenerLimits,
        acceptedPeers: Set<String>? = nil
    ) throws {
        let tls = try? self.handler(type: NIOSSLServerHandler.self)
        let guardHandler = ConnectionGuard(counter: counter, limits: limits, waitsForTLS: tls != nil)
        if let tls {
            if let acceptedPeers {
                try self.addHandler(PeerNameCheck(accepted: acceptedPeers), position: .after(tls))
            }
            try self.addHandler(HandshakeWatcher(guardHandler: guardHandler), position: .after(tls))
        }
        try self.addHandler(guardHandler, position: .first)
    }
}
