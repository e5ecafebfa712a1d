public import MeshCore
import Synchronization

/// The local rotation of one upstream: which endpoint the next connection goes to, which ones are
/// ejected after a failure (outlier detection) and until when.
///
/// Shared by every event loop of the proxy, so its state sits behind a mutex; picks are O(n) in the
/// endpoint count, which is small per upstream.
public final class EndpointBalancer: Sendable {
    struct State {
        var endpoints: [ProxyEndpoint] = []
        var cursor = 0
        /// Active connections per endpoint (for least-request and for the admin view).
        var active: [ProxyEndpoint: Int] = [:]
        /// Ejected endpoints and the instant they may be tried again.
        var ejectedUntil: [ProxyEndpoint: ContinuousClock.Instant] = [:]
        var random = SystemRandomNumberGenerator()
    }

    public let policy: BalancingPolicy
    let ejectionTime: Duration
    private let state = Mutex(State())

    public init(endpoints: [ProxyEndpoint], policy: BalancingPolicy, ejectionTime: Duration) {
        self.policy = policy
        self.ejectionTime = ejectionTime
        self.update(endpoints: endpoints)
    }

    /// Replaces the endpoint list (a new snapshot); counters and ejections of the endpoints that stay are kept.
    public func update(endpoints: [ProxyEndpoint]) {
        self.state.withLock { state in
            state.endpoints = endpoints
            let kept = Set(endpoints)
            state.active = state.active.filter { kept.contains($0.key) }
            state.ejectedUntil = state.ejectedUntil.filter { kept.contains($0.key) }
            if state.cursor >= endpoints.count { state.cursor = 0 }
        }
    }

    public var endpoints: [ProxyEndpoint] { self.state.withLock { $0.endpoints } }

    /// The next endpoint for a new connection, skipping ejected ones and `excluded` (a retry goes
    /// elsewhere). When every endpoint is ejected, the one whose ejection ends first is tried
    /// rather than failing outright (Envoy's panic threshold does the same).
    public func pick(excluding excluded: ProxyEndpoint? = nil, now: ContinuousClock.Instant = .now) -> ProxyEndpoint? {
        self.state.withLock { state in
            let candidates = state.endpoints.filter { endpoint in
                endpoint != excluded && (state.ejectedUntil[endpoint].map { $0 <= now } ?? true)
            }
            let chosen: ProxyEndpoint?
            if candidates.isEmpty {
                chosen = state.endpoints.filter { $0 != excluded }
                    .min { (state.ejectedUntil[$0] ?? now) < (state.ejectedUntil[$1] ?? now) }
            } else {
                switch self.policy {
                case .roundRobin:
                    // The cursor walks the full list, so an ejected endpoint's turn passes to the next one.
                    var index = state.cursor % max(state.endpoints.count, 1)
                    var found: ProxyEndpoint?
                    for _ in 0..<state.endpoints.count {
                        let endpoint = state.endpoints[index]
                        index = (index + 1) % state.endpoints.count
                        if candidates.contains(endpoint) {
                            found = endpoint
                            break
                        }
                    }
                    state.cursor = index
                    chosen = found
                case .leastRequest:
                    let first = candidates.randomElement(using: &state.random)!
                    let second = candidates.randomElement(using: &state.random)!
                    chosen = (state.active[second] ?? 0) < (state.active[first] ?? 0) ? second : first
                }
            }
            if let chosen { state.active[chosen, default: 0] += 1 }
            return chosen
        }
    }

    /// A connection to `endpoint` ended (its active count drops).
    public func release(_ endpoint: ProxyEndpoint) {
        self.state.withLock { state in
            if let count = state.active[endpoint] { state.active[endpoint] = max(count - 1, 0) }
        }
    }

    /// A connection to `endpoint` failed before carrying a byte: it leaves the rotation for the ejection time.
    public func eject(_ endpoint: ProxyEndpoint, now: ContinuousClock.Instant = .now) {
        self.state.withLock { state in
            state.ejectedUntil[endpoint] = now.advanced(by: self.ejectionTime)
        }
    }

    /// A connection to `endpoint` succeeded: any ejection ends.
    public func succeeded(_ endpoint: ProxyEndpoint) {
        self.state.withLock { state in
            _ = state.ejectedUntil.removeValue(forKey: endpoint)
        }
    }

    /// The endpoints currently ejected (for `/config` and tests).
    public func ejected(now: ContinuousClock.Instant = .now) -> [ProxyEndpoint] {
        self.state.withLock { state in
            state.ejectedUntil.filter { $0.value > now }.map(\.key).sorted()
        }
    }
}
