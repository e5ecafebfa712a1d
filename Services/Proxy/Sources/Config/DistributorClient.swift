import GRPCCore
import GRPCNIOTransportHTTP2Posix
public import Logging
import MeshCore
import MeshNet
import MeshProto
import MeshWorkload
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Dynamic mode: keeps a config stream to the config-distributor and a current leaf, and applies
/// both to the runtime. Everything that changes the runtime goes through one loop, so a renewal
/// and a push never interleave.
///
/// Statically stable: when the stream or the distributor fails, the runtime keeps serving its last
/// config and leaf, and the client reconnects with backoff (jittered, up to 10 s), resuming from
/// the version it serves.
public struct DistributorClient: Sendable {
    let settings: DynamicSettings
    let logger: Logger

    /// Throws ``PlaintextDialRefused`` when no CA is given and a distributor is not on loopback.
    public init(settings: DynamicSettings, logger: Logger) throws {
        try PlaintextDialRefused.check(
            .distributor,
            replicas: settings.replicas,
            hasTLS: settings.distributorCAPEM != nil
        )
        self.settings = settings
        self.logger = logger
    }

    enum Event: Sendable {
        case push(Mesh_V1_ProxySnapshotPush, reply: @Sendable (Mesh_V1_ProxyAck) -> Void)
        case renew
    }

    /// Runs until cancelled.
    public func run(runtime: ProxyRuntime) async {
        do {
            try await withGRPCClient(
                // Keepalive: a stream whose connection silently died (a NAT or balancer dropping
                // state) is noticed and reopened, so new intentions still arrive. Several replicas:
                // a connection to each, so a stream that loses its replica reopens on another at
                // once (pick-first would stay with the first address).
                transport: try HTTP2ClientTransport.Posix.distributor(
                    at: self.settings.replicas,
                    caPEM: self.settings.distributorCAPEM,
                    settings: self.settings.keepalive,
                    backoff: .init(initial: .milliseconds(100), max: .seconds(10), multiplier: 1.6, jitter: 0.2)
                )
            ) { client in
                let distributor = Mesh_V1_ConfigDistributor.Client(wrapping: client)
                let (events, post) = AsyncStream.makeStream(of: Event.self)
                let renewal = RenewalTimer()
                await withDiscardingTaskGroup { group in
                    group.addTask {
                        await self.applyLoop(
                            events: events,
                            renewal: renewal,
                            distributor: distributor,
                            runtime: runtime
                        )
                    }
                    group.addTask {
                        await self.streamLoop(distributor: distributor, runtime: runtime, post: post)
                        post.finish()
                    }
                    group.addTask { await renewal.run(post: post) }
                }
            }
        } catch {
            self.logger.error("config-distributor client stopped", metadata: [LogKey.error: "\(error)"])
        }
    }

    /// Opens the stream, forwards pushes to the apply loop and their ACKs back, and reopens it
    /// with backoff when it ends.
    private func streamLoop(
        distributor: Mesh_V1_ConfigDistributor.Client<HTTP2ClientTransport.Posix>,
        runtime: ProxyRuntime,
        post: AsyncStream<Event>.Continuation
    ) async {
        var metadata = Metadata()
        metadata.addToken(self.settings.token)
        var backoff: Duration = .milliseconds(100)
        while !Task.isCancelled {
            let (acks, ack) = AsyncStream.makeStream(of: Mesh_V1_ProxyAck.self)
            var first = Mesh_V1_ProxyStreamRequest()
            first.hello.proxyID = self.settings.proxyID
            first.hello.service = self.settings.service
            first.hello.currentVersion = runtime.snapshot?.version ?? ""
            let opening = first
            do {
                try await distributor.stream(
                    metadata: metadata,
                    requestProducer: { writer in
                        try await writer.write(opening)
                        for await answer in acks {
                            var message = Mesh_V1_ProxyStreamRequest()
                            message.ack = answer
                            try await writer.write(message)
                        }
                    },
                    onResponse: { response in
                        defer { ack.finish() }
                        for try await push in response.messages {
                            post.yield(.push(push, reply: { ack.yield($0) }))
                        }
                    }
                )
                backoff = .milliseconds(100)
                if Task.isCancelled { return }
                self.logger.info("config stream ended; reconnecting")
            } catch {
                ack.finish()
                if Task.isCancelled { return }
                self.logger.warning(
                    "config stream lost; serving the last config and reconnecting",
                    metadata: [LogKey.error: "\(error)", LogKey.backoff: "\(backoff)"]
                )
            }
            try? await Task.sleep(for: backoff * Double.random(in: 0.8...1.2))
            backoff = min(backoff * 2, .seconds(10))
        }
    }

    /// The one writer of the runtime's config: pushes and leaf renewals, in order.
    private func applyLoop(
        events: AsyncStream<Event>,
        renewal: RenewalTimer,
        distributor: Mesh_V1_ConfigDistributor.Client<HTTP2ClientTransport.Posix>,
        runtime: ProxyRuntime
    ) async {
        var leaf: SignedLeaf?
        var snapshot: ProxySnapshot?
        // A pushed config that could not be applied for want of a leaf (ca-svc refused or did
        // not answer: its rate limit after a root rotation, a replica dying): the renewal timer
        // tries it again, 1 s later and backing off to 10 s, rather than wait for the next push,
        // which may never come (the proxy stayed without a config, not ready, for minutes).
        var unapplied: ProxySnapshot?
        var retryDelay: TimeInterval = 1
        let decoder = JSONDecoder()
        for await event in events {
            switch event {
            case .push(let push, let reply):
                var answer = Mesh_V1_ProxyAck()
                answer.version = push.version
                answer.nonce = push.nonce
                var next: ProxySnapshot?
                do {
                    next = try decoder.decode(ProxySnapshot.self, from: push.snapshotJson)
                } catch {
                    answer.error = "\(error)"
                    self.logger.warning(
                        "config version refused",
                        metadata: [LogKey.version: "\(push.version)", LogKey.error: "\(error)"]
                    )
                }
                if let next {
                    let current: SignedLeaf
                    do {
                        if let leaf, leaf.trustDomain == next.trustDomain {
                            current = leaf
                        } else {
                            current = try await self.signLeaf(distributor: distributor, trustDomain: next.trustDomain)
                        }
                    } catch {
                        answer.error = "no leaf certificate yet: \(error)"
                        unapplied = next
                        renewal.schedule(at: Date().addingTimeInterval(retryDelay))
                        self.logger.warning(
                            "config version waits for a leaf certificate; retrying",
                            metadata: [
                                LogKey.version: "\(push.version)", LogKey.error: "\(error)",
                                LogKey.backoff: "\(retryDelay)s",
                            ]
                        )
                        retryDelay = min(retryDelay * 2, 10)
                        reply(answer)
                        continue
                    }
                    do {
                        try await runtime.apply(next, tls: try Self.tls(leaf: current, roots: next.rootsPEM))
                        if leaf?.serialNumber != current.serialNumber { renewal.schedule(at: current.renewAt) }
                        leaf = current
                        snapshot = next
                        unapplied = nil
                        retryDelay = 1
                    } catch {
                        answer.error = "\(error)"
                        self.logger.warning(
                            "config version refused",
                            metadata: [LogKey.version: "\(push.version)", LogKey.error: "\(error)"]
                        )
                    }
                }
                reply(answer)
            case .renew:
                guard let current = unapplied ?? snapshot else { continue }
                do {
                    let fresh = try await self.signLeaf(distributor: distributor, trustDomain: current.trustDomain)
                    try await runtime.apply(current, tls: try Self.tls(leaf: fresh, roots: current.rootsPEM))
                    leaf = fresh
                    snapshot = current
                    unapplied = nil
                    retryDelay = 1
                    renewal.schedule(at: fresh.renewAt)
                    self.logger.info("leaf renewed", metadata: [LogKey.validBefore: "\(fresh.validBefore)"])
                } catch {
                    let delay = unapplied == nil ? 10 : retryDelay
                    retryDelay = min(retryDelay * 2, 10)
                    self.logger.warning(
                        "leaf renewal failed; retrying",
                        metadata: [LogKey.error: "\(error)", LogKey.backoff: "\(delay)s"]
                    )
                    renewal.schedule(at: Date().addingTimeInterval(delay))
                }
            }
        }
    }

    /// A new key here and its certificate from ca-svc, through the distributor (only the CSR travels).
    private func signLeaf(
        distributor: Mesh_V1_ConfigDistributor.Client<HTTP2ClientTransport.Posix>,
        trustDomain: String
    ) async throws -> SignedLeaf {
        let leaf = try await SignedLeaf.sign(
            service: self.settings.service,
            trustDomain: trustDomain,
            datacenter: self.settings.datacenter,
            token: self.settings.token,
            through: distributor
        )
        self.logger.info(
            "leaf issued",
            metadata: [LogKey.spiffe: "\(leaf.spiffeURI)", LogKey.serial: "\(leaf.serialNumber)"]
        )
        return leaf
    }

    static func tls(leaf: SignedLeaf, roots: [String]) throws(ProxyError) -> ProxyTLS {
        try ProxyTLS(certificateChainPEM: leaf.chainPEM, privateKeyPEM: leaf.privateKeyPEM, rootsPEM: roots)
    }
}

/// When the leaf is next renewed: set by the apply loop, watched by a child task of the client
/// that posts `.renew` once the moment has passed (checked every second: renewals are hours
/// apart, and no task is left behind when the client stops).
final class RenewalTimer: Sendable {
    private let due = Mutex<Date?>(nil)

    func schedule(at date: Date) {
        self.due.withLock { $0 = date }
    }

    func run(post: AsyncStream<DistributorClient.Event>.Continuation) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let fire = self.due.withLock { due -> Bool in
                guard let date = due, date <= Date() else { return false }
                due = nil
                return true
            }
            if fire, case .terminated = post.yield(.renew) { return }
        }
    }
}
