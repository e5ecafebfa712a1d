/// A service as intentions name it: Consul's (peered) service name.
public struct IntentionServiceName: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    /// Empty means `default`.
    public var namespace: String
    /// Empty means `default`.
    public var partition: String
    /// The cluster peer the service lives in; empty for a local service.
    public var peer: String

    public init(_ name: String, namespace: String = "default", partition: String = "default", peer: String = "") {
        self.name = name
        self.namespace = namespace
        self.partition = partition
        self.peer = peer
    }

    /// The local service a certificate's SPIFFE ID names (a peer's identities need `peer` set by the caller,
    /// which knows the peer from the trust bundle that verified the certificate).
    public init(_ id: SPIFFEID, peer: String = "") {
        self.init(id.service, namespace: id.namespace, partition: id.partition, peer: peer)
    }

    /// `web`, `ns/web` outside the default namespace, `part/ns/web` or `peer(p)/ns/web` across clusters.
    public var description: String {
        Self.describe(name: self.name, namespace: self.namespace, partition: self.partition, peer: self.peer)
    }

    static func describe(name: String, namespace: String, partition: String, peer: String) -> String {
        let namespace = namespace.isEmpty ? "default" : namespace
        var cluster = ""
        if !peer.isEmpty {
            cluster = "peer(\(peer))/"
        } else if !partition.isEmpty, partition != "default" {
            cluster = "\(partition)/"
        }
        if cluster.isEmpty, namespace == "default" { return name }
        return "\(cluster)\(namespace)/\(name)"
    }
}

/// An immutable snapshot of every intention, ordered and indexed for the questions Consul answers:
/// `/v1/connect/intentions/match`, `/v1/connect/intentions/check`, and the RBAC decision Envoy makes
/// from the configuration Consul generates (see `IntentionSet+Authorize.swift`).
public struct IntentionSet: Sendable {
    /// Every intention, normalized (empty namespaces read `default`, precedence recomputed) and in
    /// Consul's `IntentionPrecedenceSorter` order: precedence descending, then by source sameness group,
    /// source peer, source partition, source namespace, source name, destination partition, destination
    /// namespace, destination name, each compared bytewise as Go compares strings.
    public let intentions: [Intention]
    /// Compiled L7 matchers, parallel to `intentions`.
    let matchers: [[IntentionPermissionMatcher]]
    /// Indices into `intentions` by `DestinationName` (`*` included), each ascending.
    private let byDestinationName: [String: [Int]]

    public init(_ intentions: [Intention]) {
        let normalized = intentions.map { intention in
            var intention = intention
            if intention.sourceNamespace.isEmpty { intention.sourceNamespace = "default" }
            if intention.destinationNamespace.isEmpty { intention.destinationNamespace = "default" }
            intention.updatePrecedence()
            return intention
        }
        let sorted = normalized.sorted(by: Self.precedes)
        self.intentions = sorted
        self.matchers = sorted.map { $0.permissions.map(IntentionPermissionMatcher.init) }
        self.byDestinationName = Dictionary(grouping: sorted.indices) { sorted[$0].destinationName }
    }

    public var count: Int { self.intentions.count }
    public var isEmpty: Bool { self.intentions.isEmpty }

    /// `GET /v1/connect/intentions/match?by=destination`: the intentions whose destination covers the
    /// service (exact or wildcard), highest precedence first.
    public func matches(
        destination: String,
        namespace: String = "default",
        partition: String = "default"
    ) -> [Intention] {
        let target = IntentionServiceName(destination, namespace: namespace, partition: partition)
        return self.destinationMatches(target).map { self.intentions[$0] }
    }

    /// `GET /v1/connect/intentions/match?by=source`: the intentions whose source covers the service,
    /// highest precedence first. A peered intention matches only a source from that peer.
    public func matches(
        source: String,
        namespace: String = "default",
        partition: String = "default",
        peer: String = ""
    ) -> [Intention] {
        let target = IntentionServiceName(source, namespace: namespace, partition: partition, peer: peer)
        return self.intentions.filter { $0.matchesSource(target) }
    }

    /// `GET /v1/connect/intentions/check` (Consul's `IntentionDecision` with `AllowPermissions: false`):
    /// the highest-precedence intention that covers both source and destination decides; one with L7
    /// `Permissions` answers *not allowed*, since no request is at hand to evaluate them; with no match,
    /// `defaultAllow` (the ACL default policy / `default_intention_policy`) decides.
    public func decide(
        source: IntentionServiceName,
        destination: IntentionServiceName,
        defaultAllow: Bool
    ) -> IntentionDecision {
        let index = self.destinationMatches(destination).first { self.intentions[$0].matchesSource(source) }
        guard let index else { return .byDefault(allowed: defaultAllow) }
        let intention = self.intentions[index]
        if intention.hasPermissions {
            return IntentionDecision(
                allowed: false,
                matched: intention,
                reason: "matched intention \(intention.summary) (L7 permissions; not allowed without a request)"
            )
        }
        return IntentionDecision(
            allowed: intention.action == .allow,
            matched: intention,
            reason: "matched intention \(intention.summary) (\(intention.action))"
        )
    }

    /// ``decide(source:destination:defaultAllow:)`` for two services of the default namespace and partition.
    public func decide(source: String, destination: String, defaultAllow: Bool) -> IntentionDecision {
        self.decide(
            source: IntentionServiceName(source),
            destination: IntentionServiceName(destination),
            defaultAllow: defaultAllow
        )
    }

    /// Indices of the intentions whose destination covers `target`, in precedence order.
    func destinationMatches(_ target: IntentionServiceName) -> [Int] {
        let exact = target.name == Intention.wildcard ? [] : self.byDestinationName[target.name, default: []]
        let wildcard = self.byDestinationName[Intention.wildcard, default: []]
        var merged: [Int] = []
        merged.reserveCapacity(exact.count + wildcard.count)
        var (left, right) = (0, 0)
        while left < exact.count || right < wildcard.count {
            if right == wildcard.count || (left < exact.count && exact[left] < wildcard[right]) {
                merged.append(exact[left])
                left += 1
            } else {
                merged.append(wildcard[right])
                right += 1
            }
        }
        return merged.filter { self.intentions[$0].matchesDestination(target) }
    }

    /// `IntentionPrecedenceSorter.Less`.
    static func precedes(_ a: Intention, _ b: Intention) -> Bool {
        if a.precedence != b.precedence { return a.precedence > b.precedence }
        let keys: [(String, String)] = [
            (a.sourceSamenessGroup, b.sourceSamenessGroup), (a.sourcePeer, b.sourcePeer),
            (a.sourcePartition, b.sourcePartition), (a.sourceNamespace, b.sourceNamespace),
            (a.sourceName, b.sourceName), (a.destinationPartition, b.destinationPartition),
            (a.destinationNamespace, b.destinationNamespace),
        ]
        for (left, right) in keys where left != right {
            return left.utf8.lexicographicallyPrecedes(right.utf8)
        }
        return a.destinationName.utf8.lexicographicallyPrecedes(b.destinationName.utf8)
    }
}

extension Intention {
    /// Consul's `connect.IntentionMatch` by destination: same partition (empty reads `default`), and
    /// namespace and name each equal or `*`.
    public func matchesDestination(_ service: IntentionServiceName) -> Bool {
        Self.sameTenant(self.destinationPartition, service.partition)
            && Self.covers(self.destinationNamespace, service.namespace, fallback: "default")
            && Self.covers(self.destinationName, service.name, fallback: "")
    }

    /// Consul's `connect.IntentionMatch` by source: same peer, same partition, and namespace and name
    /// each equal or `*`. An intention for a sameness group matches nothing (groups are not expanded).
    public func matchesSource(_ service: IntentionServiceName) -> Bool {
        self.sourceSamenessGroup.isEmpty
            && self.sourcePeer == service.peer
            && Self.sameTenant(self.sourcePartition, service.partition)
            && Self.covers(self.sourceNamespace, service.namespace, fallback: "default")
            && Self.covers(self.sourceName, service.name, fallback: "")
    }

    /// The source as a service name (wildcards kept), for RBAC's source comparisons.
    var sourceService: IntentionServiceName {
        IntentionServiceName(
            self.sourceName,
            namespace: self.sourceNamespace.isEmpty ? "default" : self.sourceNamespace,
            partition: self.sourcePartition.isEmpty ? "default" : self.sourcePartition,
            peer: self.sourcePeer
        )
    }

    /// `web -> db`, for decision reasons.
    var summary: String {
        let source = IntentionServiceName.describe(
            name: self.sourceName,
            namespace: self.sourceNamespace,
            partition: self.sourcePartition,
            peer: self.sourcePeer
        )
        let destination = IntentionServiceName.describe(
            name: self.destinationName,
            namespace: self.destinationNamespace,
            partition: self.destinationPartition,
            peer: ""
        )
        return "\(source) -> \(destination)"
    }

    private static func sameTenant(_ left: String, _ right: String) -> Bool {
        (left.isEmpty ? "default" : left) == (right.isEmpty ? "default" : right)
    }

    private static func covers(_ pattern: String, _ value: String, fallback: String) -> Bool {
        let pattern = pattern.isEmpty ? fallback : pattern
        return pattern == Self.wildcard || pattern == (value.isEmpty ? fallback : value)
    }
}
