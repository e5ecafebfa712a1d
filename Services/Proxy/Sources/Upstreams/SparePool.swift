import MeshCore
import NIOCore
import NIOSSL
import Synchronization

/// Ready mTLS connections to the endpoints of `tcp` upstreams, made ahead of need (Envoy calls it
/// preconnecting).
///
/// Why: a `tcp` upstream carries each app connection on a connection of its own, so without a
/// spare every new app connection waits for a TCP connect and a full mTLS handshake, and a burst
/// of new app connections (a client pool opening at start) queues behind a burst of handshakes.
/// With spares the app's connection is forwarded at once and the handshake is paid ahead, one at
/// a time.
///
/// Policy: per event loop and endpoint, as many spares as connections in use, at most
/// ``ProxyOptions/spareConnections``; refilled one dial at a time after a spare is taken or a
/// connection opened; an unused spare is closed after ``ProxyOptions/spareIdleTimeout``. A spare
/// offers ALPN ``ProxyTLS/spareProtocol``, so the peer proxy connects to its app only when the
/// spare is put to use (the activation byte). Spares made with an older leaf or for an older
/// destination identity are not used.
final class SparePool: Sendable {
    struct Key: Hashable {
        let loop: ObjectIdentifier
        let upstream: String
        let endpoint: ProxyEndpoint
    }

    private struct Spare {
        let connection: UpstreamConnection
        let tls: ObjectIdentifier
        let identity: String
    }

    private struct Slot {
        var idle: [Spare] = []
        var dialing = 0
        var inUse = 0
    }

    private let slots = Mutex<[Key: Slot]>([:])

    /// A ready connection for `key` made with `tls` for `identity`, or nil. Stale spares found on
    /// the way (closed, or made with other credentials) are closed.
    func take(_ key: Key, tls: NIOSSLContext, identity: String) -> UpstreamConnection? {
        var stale: [any Channel] = []
        let found = self.slots.withLock { slots -> UpstreamConnection? in
            guard var slot = slots[key] else { return nil }
            defer { slots[key] = slot }
            while let spare = slot.idle.popLast() {
                if spare.tls == ObjectIdentifier(tls), spare.identity == identity, spare.connection.channel.isActive {
                    return spare.connection
                }
                stale.append(spare.connection.channel)
            }
            return nil
        }
        for channel in stale { channel.close(promise: nil) }
        return found
    }

    /// Counts `channel` as in use for `key` until it closes.
    func track(_ channel: any Channel, for key: Key) {
        self.slots.withLock { $0[key, default: Slot()].inUse += 1 }
        channel.closeFuture.whenComplete { _ in
            self.slots.withLock { slots in
                slots[key]?.inUse -= 1
                Self.dropIfEmpty(key, in: &slots)
            }
        }
    }

    /// Forgets a key with nothing in use, idle or being dialed (endpoints come and go).
    private static func dropIfEmpty(_ key: Key, in slots: inout [Key: Slot]) {
        if let slot = slots[key], slot.inUse == 0, slot.idle.isEmpty, slot.dialing == 0 { slots[key] = nil }
    }

    /// Whether one more spare should be dialed for `key` now (at most one dial at a time); when
    /// true the dial is counted and must end in ``add(_:for:tls:identity:)`` or ``dialFailed(_:)``.
    func beginDial(_ key: Key, limit: Int) -> Bool {
        self.slots.withLock { slots in
            guard var slot = slots[key], slot.dialing == 0,
                slot.idle.count < min(limit, slot.inUse)
            else { return false }
            slot.dialing += 1
            slots[key] = slot
            return true
        }
    }

    /// Keeps a dialed spare until it is taken, closes, or idles past `idleTimeout`.
    func add(
        _ connection: UpstreamConnection,
        for key: Key,
        tls: NIOSSLContext,
        identity: String,
        idleTimeout: TimeAmount
    ) {
        self.slots.withLock { slots in
            slots[key, default: Slot()].dialing -= 1
            slots[key, default: Slot()].idle.append(
                Spare(connection: connection, tls: ObjectIdentifier(tls), identity: identity)
            )
        }
        let channel = connection.channel
        let expiry = channel.eventLoop.scheduleTask(in: idleTimeout) {
            if self.remove(channel, from: key) { channel.close(promise: nil) }
        }
        channel.closeFuture.whenComplete { _ in
            expiry.cancel()
            _ = self.remove(channel, from: key)
        }
    }

    func dialFailed(_ key: Key) {
        self.slots.withLock { slots in
            slots[key]?.dialing -= 1
            Self.dropIfEmpty(key, in: &slots)
        }
    }

    /// Closes every idle spare (the proxy is stopping).
    func closeAll() {
        let channels = self.slots.withLock { slots in
            let channels = slots.values.flatMap { $0.idle.map(\.connection.channel) }
            for key in slots.keys { slots[key]?.idle = [] }
            return channels
        }
        for channel in channels { channel.close(promise: nil) }
    }

    /// Idle spares per key (for tests).
    var idleCounts: [Key: Int] {
        self.slots.withLock { $0.compactMapValues { $0.idle.isEmpty ? nil : $0.idle.count } }
    }

    /// Takes `channel` out of the idle list; true when it was there (not taken meanwhile).
    private func remove(_ channel: any Channel, from key: Key) -> Bool {
        self.slots.withLock { slots in
            guard let index = slots[key]?.idle.firstIndex(where: { $0.connection.channel === channel }) else {
                return false
            }
            slots[key]?.idle.remove(at: index)
            Self.dropIfEmpty(key, in: &slots)
            return true
        }
    }
}
