import Foundation
public import MeshCore
import Synchronization

/// Where a gate resolves secrets: authz-svc's store in authz-svc itself, its gRPC API elsewhere.
public protocol TokenSource: Sendable {
    /// The token for `secret` ("" is the anonymous token), or nil when unknown or expired.
    func resolve(secret: String) async throws -> ResolvedToken?
}

/// Why a call was refused, in Consul's words.
public enum ACLDenial: Error, Sendable, Equatable, CustomStringConvertible {
    /// The token is unknown or expired: Consul's `ACL not found` (403).
    case notFound
    /// The token lacks a permission: Consul's `Permission denied` (403).
    case permissionDenied(accessorID: String, permission: String, resource: String?)
    /// The token could not be resolved (authz-svc unreachable and nothing cached).
    case unavailable(String)

    /// Consul's anonymous token, which requests without a token act as.
    public static let anonymousAccessorID = "00000000-0000-0000-0000-000000000002"

    public var description: String {
        switch self {
        case .notFound:
            "ACL not found"
        case .permissionDenied(Self.anonymousAccessorID, let permission, let resource):
            "Permission denied: anonymous token lacks permission '\(permission)'\(resource.map { " on \"\($0)\"" } ?? ""). "
                + "The anonymous token is used implicitly when a request does not specify a token."
        case .permissionDenied(let accessor, let permission, let resource?):
            "Permission denied: token with AccessorID '\(accessor)' lacks permission '\(permission)' on \"\(resource)\""
        case .permissionDenied(let accessor, let permission, nil):
            "Permission denied: token with AccessorID '\(accessor)' lacks permission '\(permission)'"
        case .unavailable(let reason):
            "ACL resolution unavailable: \(reason)"
        }
    }
}

/// One request's caller: who it is and what it may do.
public struct ACLCaller: Sendable {
    /// The token's accessor (what logs show; never the secret). "" when ACLs are off.
    public let accessorID: String
    public let authorizer: ACLAuthorizer

    public init(accessorID: String, authorizer: ACLAuthorizer) {
        self.accessorID = accessorID
        self.authorizer = authorizer
    }

    /// Throws `Permission denied` naming the permission unless `allowed`.
    public func require(_ allowed: Bool, _ permission: String, on resource: String? = nil) throws(ACLDenial) {
        guard allowed else {
            throw .permissionDenied(accessorID: self.accessorID, permission: permission, resource: resource)
        }
    }
}

/// Resolves request tokens to callers, caching resolutions until the ACL state changes.
///
/// The cache is dropped on every ACL change the owner reports (`invalidate()`, driven by the
/// authz change feed or its gRPC watch), so a deleted token stops working as soon as the
/// change arrives. Negative answers are cached too: a token created later is a change, which
/// clears them. Resolutions started before a change are not cached after it (generation check).
/// When the source fails, a cached answer is used (Consul's `extend-cache` down policy).
public final class ACLGate: Sendable {
    private struct Entry: Sendable {
        var token: ResolvedToken?
        var authorizer: ACLAuthorizer?
    }

    private struct State: Sendable {
        var generation: UInt64 = 0
        var entries: [String: Entry] = [:]
        /// The secrets of cached negative answers, oldest first (from `unknownHead` on).
        var unknown: [String] = []
        var unknownHead = 0
        var defaultPolicy: ACLDefault
        /// The owner's ACL version the entries were resolved at (see `version`).
        var version: UInt64 = 0

        mutating func removeAll() {
            self.entries.removeAll(keepingCapacity: true)
            self.unknown.removeAll(keepingCapacity: true)
            self.unknownHead = 0
        }

        /// Caches `entry` for `secret`. Unknown secrets (what anyone can send by the thousand)
        /// have their own small budget and push out the oldest unknown one, so a flood of
        /// bogus tokens never evicts the resolutions of real ones; real ones past their budget
        /// push out one other real one, not the whole cache.
        mutating func insert(_ entry: Entry, for secret: String, capacity: Int, unknownCapacity: Int) {
            if entry.token == nil {
                if self.unknown.count - self.unknownHead >= unknownCapacity {
                    self.entries[self.unknown[self.unknownHead]] = nil
                    self.unknownHead += 1
                    if self.unknownHead >= unknownCapacity {
                        self.unknown.removeFirst(self.unknownHead)
                        self.unknownHead = 0
                    }
                }
                if self.entries[secret] == nil { self.unknown.append(secret) }
            } else if self.entries[secret] == nil,
                self.entries.count - (self.unknown.count - self.unknownHead) >= capacity,
                let victim = self.entries.first(where: { $0.value.token != nil })?.key
            {
                self.entries[victim] = nil
            }
            self.entries[secret] = entry
        }
    }

    private let source: (any TokenSource)?
    private let state: Mutex<State>
    /// The owner's counter of ACL changes, when the gate lives beside the store (authz-svc):
    /// a change made by this process moves it before the write returns, so the next request
    /// sees it even before `invalidate()` is called (reads follow writes).
    private let version: (@Sendable () -> UInt64)?
    /// The largest number of cached resolutions of real tokens, and of unknown secrets.
    private let capacity = 10_000
    private let unknownCapacity = 1_024

    /// ACLs on: resolve through `source`, deny or allow unmatched requests by `defaultPolicy`.
    ///
    /// - Parameter version: the ACL change counter of a store in this process (authz-svc's own gate).
    public init(source: any TokenSource, defaultPolicy: ACLDefault, version: (@Sendable () -> UInt64)? = nil) {
        self.source = source
        self.state = Mutex(State(defaultPolicy: defaultPolicy))
        self.version = version
    }

    private init() {
        self.source = nil
        self.state = Mutex(State(defaultPolicy: .allow))
        self.version = nil
    }

    /// ACLs off: every caller may do everything (Consul with `acl.enabled = false`).
    public static let disabled = ACLGate()

    /// Whether ACLs are enforced.
    public var isEnabled: Bool { self.source != nil }

    /// The cluster's default policy, as last reported.
    public var defaultPolicy: ACLDefault { self.state.withLock { $0.defaultPolicy } }

    /// Forgets every cached resolution; called on each ACL change.
    public func invalidate(defaultPolicy: ACLDefault? = nil) {
        self.state.withLock { state in
            state.generation &+= 1
            state.removeAll()
            if let defaultPolicy { state.defaultPolicy = defaultPolicy }
        }
    }

    /// How many resolutions are cached now (real tokens and unknown secrets).
    public var cachedCount: (tokens: Int, unknown: Int) {
        self.state.withLock { state in
            let unknown = state.unknown.count - state.unknownHead
            return (state.entries.count - unknown, unknown)
        }
    }

    /// The caller for a request's token (nil or "" is the anonymous token).
    public func caller(secret: String?) async throws(ACLDenial) -> ACLCaller {
        guard let source = self.source else {
            return ACLCaller(accessorID: "", authorizer: .management)
        }
        let secret = secret ?? ""
        let now = Date()
        let version = self.version?()
        let (cached, generation) = self.state.withLock { state in
            if let version, version != state.version {
                state.version = version
                state.generation &+= 1
                state.removeAll()
            }
            return (state.entries[secret], state.generation)
        }
        if let cached, let caller = Self.caller(from: cached, at: now) { return caller }
        if let cached, cached.token == nil { throw .notFound }
        let token: ResolvedToken?
        do {
            token = try await source.resolve(secret: secret)
        } catch {
            if let cached, let caller = Self.caller(from: cached, at: now) { return caller }
            throw .unavailable("\(error)")
        }
        let entry = self.state.withLock { state -> Entry in
            let entry = Entry(token: token, authorizer: token?.authorizer(default: state.defaultPolicy))
            if state.generation == generation {
                state.insert(entry, for: secret, capacity: self.capacity, unknownCapacity: self.unknownCapacity)
            }
            return entry
        }
        guard let caller = Self.caller(from: entry, at: now) else { throw .notFound }
        return caller
    }

    private static func caller(from entry: Entry, at now: Date) -> ACLCaller? {
        guard let token = entry.token, let authorizer = entry.authorizer else { return nil }
        if let expiry = token.expirationTime, expiry <= now { return nil }
        return ACLCaller(accessorID: token.accessorID, authorizer: authorizer)
    }
}
