import GRPCCore
import Logging
public import MeshCore
import MeshProto
import MeshServer
import ServiceLifecycle
import Synchronization

/// What the distributor knows of the control plane, kept current by watch streams: the trust
/// roots (ca-svc), every intention and the default policy (authz-svc), the services' protocols
/// (catalog-svc's config entries), and the sidecar proxies of every service some proxy cares
/// about (catalog-svc, one watch per service, shared by all streams).
///
/// Proxy streams subscribe with the services they depend on and are woken (coalesced: a wake-up
/// that finds one pending drops the new one) when one of them changes, or on any roots or
/// intentions change. Nothing is polled.
public final class MeshView: Sendable {
    struct Roots: Sendable, Equatable {
        var trustDomain: String
        var pems: [String]
    }

    /// A sidecar (`connect-proxy`) instance as the catalog shows it.
    struct Sidecar: Sendable, Equatable {
        var id: String
        var node: String
        var address: String
        var port: Int
        var healthy: Bool
        var localServicePort: Int
        var upstreams: [UpstreamRequest]
    }

    /// Each service's protocol (`service-defaults`), the cluster default (`proxy-defaults`) and
    /// the public listeners' request normalization (the `mesh` entry).
    struct Protocols: Sendable, Equatable {
        var defaultProtocol: String
        var services: [String: String]
        var requestNormalization: RequestNormalization = .default
    }

    struct State {
        var roots: Roots?
        var intentions: IntentionSet?
        var defaultAllow = false
        var protocols: Protocols?
        /// Sidecars per destination service, for each service watched.
        var sidecars: [String: [Sidecar]] = [:]
        /// The services watched now, each with the signal that ends its watch: a service no
        /// subscriber depends on any more is released (proxies choose their upstreams' names,
        /// so what is watched must not grow with every name ever asked for).
        var watched: [String: AsyncStream<Void>.Continuation] = [:]
        var subscribers: [Int: Subscriber] = [:]
        var nextSubscriber = 0
    }

    struct Subscriber {
        var services: Set<String>
        let wake: AsyncStream<Void>.Continuation
    }

    let datacenter: String
    private let state = Mutex(State())
    private let watchRequests: AsyncStream<WatchRequest>
    private let requestWatch: AsyncStream<WatchRequest>.Continuation

    struct WatchRequest: Sendable {
        let service: String
        /// Finishes when the service is released.
        let released: AsyncStream<Void>
    }
    /// Fulfilled once roots, intentions and protocols have arrived (readiness).
    public let synced = Rendezvous<Bool>()

    public init(datacenter: String) {
        self.datacenter = datacenter
        (self.watchRequests, self.requestWatch) = AsyncStream.makeStream(of: WatchRequest.self)
    }

    // MARK: Subscriptions

    /// A subscription to changes of `services` (and of roots and intentions); the stream yields
    /// once at once, then after changes.
    func subscribe(services: Set<String>) -> (id: Int, changes: AsyncStream<Void>) {
        let (changes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = self.state.withLock { state in
            state.nextSubscriber += 1
            state.subscribers[state.nextSubscriber] = Subscriber(services: services, wake: wake)
            return state.nextSubscriber
        }
        self.watch(services)
        wake.yield()
        return (id, changes)
    }

    /// Changes what subscriber `id` depends on (its upstreams became known or changed).
    func update(_ id: Int, services: Set<String>) {
        let changed = self.state.withLock { state -> Bool in
            guard state.subscribers[id]?.services != services else { return false }
            state.subscribers[id]?.services = services
            return true
        }
        if changed {
            self.watch(services)
            self.releaseUnneeded()
        }
    }

    func unsubscribe(_ id: Int) {
        let subscriber = self.state.withLock { $0.subscribers.removeValue(forKey: id) }
        subscriber?.wake.finish()
        self.releaseUnneeded()
    }

    /// Ends the watches of services no subscriber depends on, and forgets their sidecars.
    private func releaseUnneeded() {
        let released = self.state.withLock { state -> [AsyncStream<Void>.Continuation] in
            let needed = state.subscribers.values.reduce(into: Set<String>()) { $0.formUnion($1.services) }
            let gone = state.watched.keys.filter { !needed.contains($0) }
            for service in gone { state.sidecars[service] = nil }
            return gone.compactMap { state.watched.removeValue(forKey: $0) }
        }
        for signal in released { signal.finish() }
    }

    /// The services watched now (tests and metrics).
    public var watchedCount: Int { self.state.withLock { $0.watched.count } }

    public var subscriberCount: Int { self.state.withLock { $0.subscribers.count } }

    private func watch(_ services: Set<String>) {
        let new = self.state.withLock { state -> [WatchRequest] in
            services.filter { state.watched[$0] == nil }.map { service in
                let (released, signal) = AsyncStream.makeStream(of: Void.self)
                state.watched[service] = signal
                return WatchRequest(service: service, released: released)
            }
        }
        for request in new { self.requestWatch.yield(request) }
    }

    /// Wakes the subscribers that depend on `service` (every subscriber when nil).
    private func notify(service: String?) {
        let wakes = self.state.withLock { state in
            state.subscribers.values.filter { service == nil || $0.services.contains(service!) }.map(\.wake)
        }
        for wake in wakes { wake.yield() }
    }

    // MARK: Snapshots

    /// Why a proxy's snapshot cannot be built yet.
    enum Pending: Equatable {
        case syncing
        case notRegistered
    }

    /// The snapshot of proxy `proxyID` fronting `service`, with the upstream services it depends on.
    func snapshot(proxyID: String, service: String) -> Result<(ProxySnapshot, Set<String>), PendingError> {
        let state = self.state.withLock { state in
            (state.roots, state.intentions, state.defaultAllow, state.sidecars, state.protocols)
        }
        guard let roots = state.0, let intentions = state.1, let protocols = state.4 else {
            return .failure(PendingError(.syncing))
        }
        guard let own = state.3[service]?.first(where: { $0.id == proxyID }) else {
            return .failure(PendingError(state.3[service] == nil ? .syncing : .notRegistered))
        }
        let dependencies = Set(own.upstreams.map(\.service))
        var endpoints: [String: [ProxyEndpoint]] = [:]
        for upstream in own.upstreams {
            // Not before every upstream's instances are known: a config with an upstream that is
            // only not synced yet would send the app's calls nowhere.
            guard let sidecars = state.3[upstream.service] else {
                return .failure(PendingError(.syncing, dependencies: dependencies))
            }
            endpoints[upstream.service] = sidecars.filter(\.healthy).map {
                ProxyEndpoint(address: $0.address, port: $0.port, node: $0.node, instanceID: $0.id)
            }
        }
        var snapshot = ProxySnapshotBuilder.build(
            ProxyRegistration(
                service: service,
                publicPort: own.port,
                localAppPort: own.localServicePort,
                upstreams: own.upstreams
            ),
            endpoints: endpoints,
            protocols: protocols.services,
            defaultProtocol: protocols.defaultProtocol,
            intentions: intentions,
            defaultAllow: state.2,
            trustDomain: roots.trustDomain,
            datacenter: self.datacenter,
            rootsPEM: roots.pems
        )
        // Left out when it is the default, so that snapshots (and their versions) stay as they were.
        if protocols.requestNormalization != .default {
            snapshot.requestNormalization = protocols.requestNormalization
        }
        return .success((snapshot, dependencies))
    }

    struct PendingError: Error {
        let reason: Pending
        /// The upstream services known so far (to be watched meanwhile).
        let dependencies: Set<String>
        init(_ reason: Pending, dependencies: Set<String> = []) {
            self.reason = reason
            self.dependencies = dependencies
        }
    }

    // MARK: Following the control plane

    /// Runs the roots and intentions watches and one catalog watch per requested service, each
    /// reconnecting with backoff, until cancelled.
    func follow(
        catalog: Mesh_V1_Catalog.Client<some ClientTransport>,
        intentions: Mesh_V1_Intentions.Client<some ClientTransport>,
        ca: Mesh_V1_CA.Client<some ClientTransport>,
        metadata: Metadata,
        logger: Logger
    ) async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                await Self.retrying("roots", logger: logger) {
                    try await ca.watchRoots(.init(), metadata: metadata) { response in
                        for try await roots in response.messages {
                            self.apply(roots)
                        }
                    }
                }
            }
            group.addTask {
                await Self.retrying("intentions", logger: logger) {
                    try await intentions.watch(.init(), metadata: metadata) { response in
                        for try await snapshot in response.messages {
                            self.apply(snapshot)
                        }
                    }
                }
            }
            group.addTask {
                await Self.retrying("protocols", logger: logger) {
                    try await catalog.watchProtocols(.init(), metadata: metadata) { response in
                        for try await event in response.messages {
                            self.apply(event)
                        }
                    }
                }
            }
            for await watch in self.watchRequests {
                let service = watch.service
                group.addTask {
                    // Until the service is released (no proxy depends on it any more).
                    await withTaskGroup(of: Void.self) { lifetime in
                        lifetime.addTask {
                            await Self.retrying("catalog \(service)", logger: logger) {
                                var request = Mesh_V1_WatchRequest()
                                request.service = "\(service)-sidecar-proxy"
                                try await catalog.watch(request, metadata: metadata) { response in
                                    for try await event in response.messages {
                                        self.apply(event, service: service)
                                    }
                                }
                            }
                        }
                        lifetime.addTask { for await _ in watch.released {} }
                        await lifetime.next()
                        lifetime.cancelAll()
                    }
                }
            }
        }
    }

    private static func retrying(_ what: String, logger: Logger, _ body: () async throws -> Void) async {
        var backoff: Duration = .milliseconds(100)
        while !Task.isCancelled {
            do {
                try await body()
                if Task.isCancelled { return }
                logger.info("watch ended; reopening", metadata: [LogKey.watch: "\(what)"])
            } catch {
                if Task.isCancelled { return }
                logger.warning(
                    "watch lost; retrying",
                    metadata: [LogKey.watch: "\(what)", LogKey.error: "\(error)", LogKey.backoff: "\(backoff)"]
                )
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    func apply(_ message: Mesh_V1_CARoots) {
        let roots = Roots(
            trustDomain: message.trustDomain,
            pems: message.roots.map(\.rootCertPem)
        )
        let changed = self.state.withLock { state -> Bool in
            defer { state.roots = roots }
            return state.roots != roots
        }
        self.markSyncedIfComplete()
        if changed { self.notify(service: nil) }
    }

    func apply(_ message: Mesh_V1_IntentionsSnapshot) {
        let set = IntentionSet(message.intentions.map(Intention.init))
        self.state.withLock { state in
            state.intentions = set
            state.defaultAllow = message.defaultAllow
        }
        self.markSyncedIfComplete()
        self.notify(service: nil)
    }

    func apply(_ event: Mesh_V1_ProtocolsEvent) {
        let protocols = Protocols(
            defaultProtocol: event.defaultProtocol.isEmpty ? "tcp" : event.defaultProtocol,
            services: event.protocols,
            // A catalog that does not send it yet: our defaults.
            requestNormalization: event.hasRequestNormalization
                ? RequestNormalization(event.requestNormalization) : .default
        )
        let changed = self.state.withLock { state -> Bool in
            defer { state.protocols = protocols }
            return state.protocols != protocols
        }
        self.markSyncedIfComplete()
        if changed { self.notify(service: nil) }
    }

    func apply(_ event: Mesh_V1_WatchEvent, service: String) {
        let sidecars = event.instances.compactMap(Self.sidecar(from:)).sorted { $0.id < $1.id }
        let changed = self.state.withLock { state -> Bool in
            // A late event of a released watch is not kept.
            guard state.watched[service] != nil else { return false }
            defer { state.sidecars[service] = sidecars }
            return state.sidecars[service] != sidecars
        }
        if changed { self.notify(service: service) }
    }

    private func markSyncedIfComplete() {
        if self.state.withLock({ $0.roots != nil && $0.intentions != nil && $0.protocols != nil }) {
            self.synced.fulfill(true)
        }
    }

    /// A catalog instance as a sidecar: healthy when none of its checks (node checks included) is critical.
    static func sidecar(from entry: Mesh_V1_ServiceHealth) -> Sidecar? {
        guard entry.service.kind == "connect-proxy" else { return nil }
        let proxy = entry.service.proxy
        return Sidecar(
            id: entry.service.id,
            node: entry.node.name,
            address: entry.service.address.isEmpty ? entry.node.address : entry.service.address,
            port: Int(entry.service.port),
            healthy: !entry.checks.contains { $0.status == "critical" },
            localServicePort: Int(proxy.localServicePort),
            // Service upstreams; prepared queries are not supported and are left out.
            upstreams: proxy.upstreams.filter { ["", "service"].contains($0.destinationType) }
                .map { UpstreamRequest(service: $0.destinationName, localPort: Int($0.localBindPort)) }
        )
    }
}
