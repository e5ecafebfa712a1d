/// The decision Envoy reaches with the RBAC filter Consul generates for a destination
/// (`agent/xds/rbac.go`, `makeRBACRules`), evaluated directly instead of through Envoy.
///
/// Consul compiles the destination's intentions (those `matches(destination:)` returns) like this:
///
/// 1. Sort by precedence and drop any lower-precedence intention whose source equals a higher one's
///    (`removeSameSourceIntentions`).
/// 2. Give each intention's principal `AND NOT` every higher-precedence source that is strictly
///    narrower and inside it (`ixnSourceMatches`: `web` inside `*`, `ns/*` inside `*/*`), so a source
///    is governed by the most specific rule naming it, not by broader ones below it.
/// 3. Drop L4 intentions whose action equals the default (the default covers them). In each L7
///    intention, give each permission `AND NOT` every earlier permission, and drop permissions whose
///    action equals the default; an L7 intention left without permissions is dropped.
/// 4. Default deny: the rest form an ALLOW policy; default allow: a DENY policy. The request gets the
///    opposite of the default if any remaining rule matches its source and request, else the default.
///
/// So an L7 intention does not fall through: if it is the one that governs the source and none of its
/// permissions matches, the default decides, and lower-precedence intentions are not consulted. Within
/// it the first matching permission decides. One consequence is kept deliberately: step 2 only masks
/// narrower sources, so a broader higher-precedence intention (`* -> db`) does not mask a narrower
/// lower one (`web -> *`), and when their actions differ the one opposite the default wins — which
/// can disagree with ``IntentionSet/decide(source:destination:defaultAllow:)`` (Consul's `/check`).
extension IntentionSet {
    /// The HTTP filter's decision for one request from `source` to `destination`.
    public func authorize(
        source: IntentionServiceName,
        destination: IntentionServiceName,
        request: IntentionHTTPRequest,
        defaultAllow: Bool
    ) -> IntentionDecision {
        self.evaluateRBAC(source: source, destination: destination, request: request, defaultAllow: defaultAllow)
    }

    /// ``authorize(source:destination:request:defaultAllow:)`` for two services of the default namespace.
    public func authorize(
        source: String,
        destination: String,
        request: IntentionHTTPRequest,
        defaultAllow: Bool
    ) -> IntentionDecision {
        self.authorize(
            source: IntentionServiceName(source),
            destination: IntentionServiceName(destination),
            request: request,
            defaultAllow: defaultAllow
        )
    }

    /// The network (TCP) filter's decision for a connection: the same compilation, but an intention
    /// with L7 permissions counts as `deny`, as Consul renders it for a non-HTTP listener.
    public func authorizeConnection(
        source: IntentionServiceName,
        destination: IntentionServiceName,
        defaultAllow: Bool
    ) -> IntentionDecision {
        self.evaluateRBAC(source: source, destination: destination, request: nil, defaultAllow: defaultAllow)
    }

    private func evaluateRBAC(
        source: IntentionServiceName,
        destination: IntentionServiceName,
        request: IntentionHTTPRequest?,
        defaultAllow: Bool
    ) -> IntentionDecision {
        // Step 1. Sameness-group intentions are never expanded here, so they are left out.
        var seenSources = Set<IntentionServiceName>()
        let rules = self.destinationMatches(destination).filter { index in
            let intention = self.intentions[index]
            return intention.sourceSamenessGroup.isEmpty && seenSources.insert(intention.sourceService).inserted
        }
        let sources = rules.map { self.intentions[$0].sourceService }
        var governing: (rule: Int, permission: Int?)?

        for (position, index) in rules.enumerated() {
            let intention = self.intentions[index]
            // Step 2: the principal is the source minus narrower, higher-precedence sources.
            guard intention.matchesSource(source) else { continue }
            let masked = sources[..<position].contains { higher in
                Self.isNarrower(higher, than: sources[position]) && Self.covers(higher, source)
            }
            if masked { continue }

            // Steps 3 and 4: a rule decides only when it yields the opposite of the default.
            if !intention.hasPermissions || request == nil {
                let allows = !intention.hasPermissions && intention.action == .allow
                if governing == nil { governing = (position, nil) }
                if allows != defaultAllow {
                    return self.decision(allowed: allows, index: index, permission: nil, network: request == nil)
                }
                continue
            }
            let matchers = self.matchers[index]
            let first = request.flatMap { request in matchers.firstIndex { $0.matches(request) } }
            if governing == nil { governing = (position, first) }
            if let first, (matchers[first].permission.action == .allow) != defaultAllow {
                return self.decision(allowed: !defaultAllow, index: index, permission: first, network: false)
            }
        }

        guard let governing else { return .byDefault(allowed: defaultAllow) }
        let index = rules[governing.rule]
        let intention = self.intentions[index]
        if intention.hasPermissions, request != nil, governing.permission == nil {
            let fallback = defaultAllow ? "allow" : "deny"
            return IntentionDecision(
                allowed: defaultAllow,
                matched: intention,
                reason: "matched intention \(intention.summary), no permission matched (default \(fallback))"
            )
        }
        return self.decision(
            allowed: defaultAllow,
            index: index,
            permission: governing.permission,
            network: request == nil
        )
    }

    private func decision(allowed: Bool, index: Int, permission: Int?, network: Bool) -> IntentionDecision {
        let intention = self.intentions[index]
        let verdict = allowed ? "allow" : "deny"
        let reason: String
        if let permission {
            reason = "matched intention \(intention.summary), permission \(permission) (\(verdict))"
        } else if intention.hasPermissions && network {
            reason = "matched intention \(intention.summary) (L7 permissions on a TCP connection: deny)"
        } else {
            reason = "matched intention \(intention.summary) (\(verdict))"
        }
        return IntentionDecision(allowed: allowed, matched: intention, permissionIndex: permission, reason: reason)
    }

    /// Consul's `ixnSourceMatches(tester, against)`: `tester` has fewer wildcards and lies inside `against`.
    static func isNarrower(_ tester: IntentionServiceName, than against: IntentionServiceName) -> Bool {
        guard Self.wildcards(tester) < Self.wildcards(against) else { return false }
        return tester.partition == against.partition && tester.peer == against.peer
            && (tester.namespace == against.namespace || against.namespace == Intention.wildcard)
            && (tester.name == against.name || against.name == Intention.wildcard)
    }

    /// Consul's `countWild`: `*/*` is 2, `ns/*` is 1, `ns/name` is 0.
    private static func wildcards(_ service: IntentionServiceName) -> Int {
        if service.namespace == Intention.wildcard { return 2 }
        return service.name == Intention.wildcard ? 1 : 0
    }

    /// Whether an intention source (wildcards allowed) admits a concrete service, as its SPIFFE
    /// pattern principal would.
    private static func covers(_ pattern: IntentionServiceName, _ service: IntentionServiceName) -> Bool {
        let namespace = service.namespace.isEmpty ? "default" : service.namespace
        let partition = service.partition.isEmpty ? "default" : service.partition
        return pattern.peer == service.peer && pattern.partition == partition
            && (pattern.namespace == Intention.wildcard || pattern.namespace == namespace)
            && (pattern.name == Intention.wildcard || pattern.name == service.name)
    }
}
