#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// An intention: whether `source` may connect to (or send requests to) `destination`, in Consul's model.
///
/// This is the flat form Consul's `/v1/connect/intentions` API serves (one source, one destination);
/// Consul 1.9+ stores these as sources of a `service-intentions` config entry. The JSON encoding, in
/// an extension, uses Consul's field names and omits what Consul omits.
///
/// `id` stays empty for intentions created through the name-based API, as in Consul 1.9+ (where only
/// intentions migrated from the legacy ID-based API keep an ID); a store may assign a UUID when it
/// serves the legacy by-ID endpoints, and the encoder emits `ID` only when it is set.
public struct Intention: Sendable, Hashable {
    /// `ID`: the legacy UUID, empty for config-entry-style intentions.
    public var id: String
    /// `Description`: opaque to the mesh, at most 512 bytes.
    public var description: String
    /// `SourceNS`: the source namespace, or `*` for every namespace; empty means `default`.
    public var sourceNamespace: String
    /// `SourceName`: the source service, or `*` for every service in `sourceNamespace`.
    public var sourceName: String
    /// `DestinationNS`: the destination namespace, or `*`; empty means `default`.
    public var destinationNamespace: String
    /// `DestinationName`: the destination service, or `*`.
    public var destinationName: String
    /// `SourcePartition`: the source admin partition; empty means `default`. Never a wildcard.
    public var sourcePartition: String
    /// `DestinationPartition`: the destination admin partition; empty means `default`.
    public var destinationPartition: String
    /// `SourcePeer`: the cluster peer the source lives in; empty for local sources.
    public var sourcePeer: String
    /// `SourceSamenessGroup`: kept for wire compatibility; sameness groups are not expanded here, so an
    /// intention naming one matches no source.
    public var sourceSamenessGroup: String
    /// `SourceType`: always `consul` once validated.
    public var sourceType: String
    /// `Action`: `allow` or `deny`; empty when `permissions` carries the L7 rules instead.
    public var action: IntentionAction
    /// `Permissions`: L7 rules, evaluated in order; the first whose match fits the request decides.
    public var permissions: [IntentionPermission]
    /// `JWT`: Consul's JWT requirement, kept verbatim. The validator rejects it: it is not enforced here.
    public var jwt: JSONValue?
    /// `Meta`: opaque metadata (at most 64 pairs, keys ≤ 128 bytes, values ≤ 512 bytes).
    public var meta: [String: String]
    /// `Precedence`: read-only, recomputed on every write (see ``computedPrecedence``).
    public var precedence: Int
    /// `CreateIndex`: the index of the write that created the intention.
    public var createIndex: ModifyIndex
    /// `ModifyIndex`: the index of the write that last changed the intention.
    public var modifyIndex: ModifyIndex
    /// `CreatedAt`: set by the server; `nil` is Go's zero time and is not encoded.
    public var createdAt: Date?
    /// `UpdatedAt`: set by the server; `nil` is Go's zero time and is not encoded.
    public var updatedAt: Date?
    /// `Hash`: the base64 text Consul sends for legacy intentions, passed through untouched (never computed).
    public var hash: String

    /// Builds an intention; `precedence` defaults to the computed one (pass a value only to mirror stored data).
    public init(
        id: String = "",
        description: String = "",
        sourceNamespace: String = "default",
        sourceName: String,
        destinationNamespace: String = "default",
        destinationName: String,
        sourcePartition: String = "",
        destinationPartition: String = "",
        sourcePeer: String = "",
        sourceSamenessGroup: String = "",
        sourceType: String = Intention.sourceTypeConsul,
        action: IntentionAction = .none,
        permissions: [IntentionPermission] = [],
        jwt: JSONValue? = nil,
        meta: [String: String] = [:],
        precedence: Int? = nil,
        createIndex: ModifyIndex = 0,
        modifyIndex: ModifyIndex = 0,
        createdAt: Date? = nil,
        updatedAt: Date? = nil,
        hash: String = ""
    ) {
        self.id = id
        self.description = description
        self.sourceNamespace = sourceNamespace
        self.sourceName = sourceName
        self.destinationNamespace = destinationNamespace
        self.destinationName = destinationName
        self.sourcePartition = sourcePartition
        self.destinationPartition = destinationPartition
        self.sourcePeer = sourcePeer
        self.sourceSamenessGroup = sourceSamenessGroup
        self.sourceType = sourceType
        self.action = action
        self.permissions = permissions
        self.jwt = jwt
        self.meta = meta
        self.precedence = 0
        self.createIndex = createIndex
        self.modifyIndex = modifyIndex
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.hash = hash
        self.precedence = precedence ?? self.computedPrecedence
    }

    /// Consul's wildcard: a whole namespace or name that matches every value.
    public static let wildcard = "*"
    /// The only `SourceType` Consul accepts.
    public static let sourceTypeConsul = "consul"

    /// Whether the intention carries L7 rules (and so no `Action` of its own).
    public var hasPermissions: Bool { !self.permissions.isEmpty }

    /// The precedence Consul would store for this intention's source and destination.
    public var computedPrecedence: Int {
        Self.precedence(
            sourceNamespace: self.sourceNamespace,
            sourceName: self.sourceName,
            destinationNamespace: self.destinationNamespace,
            destinationName: self.destinationName
        )
    }

    /// Consul's `UpdatePrecedence` / `computeIntentionPrecedence`: higher numbers are applied first.
    ///
    /// The destination sets the band and the source the place in it (`ns/name` exact, `ns/*`, `*/*`):
    ///
    /// | source \ destination | `ns/name` | `ns/*` | `*/*` |
    /// | --- | --- | --- | --- |
    /// | `ns/name` | 9 | 6 | 3 |
    /// | `ns/*` | 8 | 5 | 2 |
    /// | `*/*` | 7 | 4 | 1 |
    ///
    /// Partitions and peers do not count, and neither do `Permissions`: Consul has no L7 adjustment.
    /// An empty namespace counts as exact (Consul fills `default` first).
    public static func precedence(
        sourceNamespace: String,
        sourceName: String,
        destinationNamespace: String,
        destinationName: String
    ) -> Int {
        let maximum: Int
        switch Self.countExact(namespace: destinationNamespace, name: destinationName) {
        case 2: maximum = 9
        case 1: maximum = 6
        default: maximum = 3
        }
        return maximum - (2 - Self.countExact(namespace: sourceNamespace, name: sourceName))
    }

    /// Consul's `countExact`: a wildcard namespace implies a wildcard name, so `*` there counts as 0.
    static func countExact(namespace: String, name: String) -> Int {
        if namespace == Self.wildcard { return 0 }
        if name == Self.wildcard { return 1 }
        return 2
    }

    /// Sets `precedence` from the source and destination, as Consul does on every write.
    public mutating func updatePrecedence() {
        self.precedence = self.computedPrecedence
    }
}

/// An intention's or a permission's action. Any string decodes (as in Consul); validation accepts
/// only ``allow`` and ``deny``, and ``none`` (empty) where `Permissions` replace the action.
public struct IntentionAction: RawRepresentable, Sendable, Hashable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    public var rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public init(stringLiteral value: String) {
        self.rawValue = value
    }

    /// Let the connection or request through.
    public static let allow = IntentionAction(rawValue: "allow")
    /// Refuse the connection or request.
    public static let deny = IntentionAction(rawValue: "deny")
    /// No action: the intention's `Permissions` decide.
    public static let none = IntentionAction(rawValue: "")

    /// Whether this is `allow` or `deny`.
    public var isValid: Bool { self == .allow || self == .deny }

    public var description: String { self.rawValue }
}

/// One L7 rule of an intention (`Permissions[i]`): when `http` matches the request, `action` decides.
public struct IntentionPermission: Sendable, Hashable {
    /// `Action`: `allow` or `deny` (required).
    public var action: IntentionAction
    /// `HTTP`: the request match (required by validation).
    public var http: IntentionHTTPPermission?
    /// `JWT`: Consul's per-permission JWT requirement, kept verbatim; rejected by validation and, since
    /// no JWT is verified here, a permission carrying one never matches (as in Envoy without a token).
    public var jwt: JSONValue?

    public init(action: IntentionAction, http: IntentionHTTPPermission? = nil, jwt: JSONValue? = nil) {
        self.action = action
        self.http = http
        self.jwt = jwt
    }
}

/// The HTTP match of a permission (`Permissions[i].HTTP`); every criterion given must hold.
public struct IntentionHTTPPermission: Sendable, Hashable {
    /// `PathExact`: the path (without query) equals this; starts with `/`.
    public var pathExact: String
    /// `PathPrefix`: the path (without query) starts with this, character-wise; starts with `/`.
    public var pathPrefix: String
    /// `PathRegex`: the whole path (without query) matches this regular expression.
    public var pathRegex: String
    /// `Header`: header rules, all of which must hold.
    public var header: [IntentionHTTPHeaderPermission]
    /// `Methods`: the request method is one of these (uppercase once normalized).
    public var methods: [String]

    public init(
        pathExact: String = "",
        pathPrefix: String = "",
        pathRegex: String = "",
        header: [IntentionHTTPHeaderPermission] = [],
        methods: [String] = []
    ) {
        self.pathExact = pathExact
        self.pathPrefix = pathPrefix
        self.pathRegex = pathRegex
        self.header = header
        self.methods = methods
    }
}

/// One header rule (`Permissions[i].HTTP.Header[k]`): exactly one of `present`, `exact`, `prefix`,
/// `suffix`, `contains`, `regex`, optionally inverted.
public struct IntentionHTTPHeaderPermission: Sendable, Hashable {
    /// `Name`: the header, matched case-insensitively (`:method`, `:path`, `:authority` included).
    public var name: String
    /// `Present`: the header is present (with `invert`: absent).
    public var present: Bool
    /// `Exact`: the value equals this.
    public var exact: String
    /// `Prefix`: the value starts with this.
    public var prefix: String
    /// `Suffix`: the value ends with this.
    public var suffix: String
    /// `Contains`: the value contains this.
    public var contains: String
    /// `Regex`: the whole value matches this regular expression.
    public var regex: String
    /// `Invert`: negates the rule; a missing header still fails every rule but an inverted `present`.
    public var invert: Bool
    /// `IgnoreCase`: compare `exact`/`prefix`/`suffix`/`contains` case-insensitively.
    public var ignoreCase: Bool

    public init(
        name: String,
        present: Bool = false,
        exact: String = "",
        prefix: String = "",
        suffix: String = "",
        contains: String = "",
        regex: String = "",
        invert: Bool = false,
        ignoreCase: Bool = false
    ) {
        self.name = name
        self.present = present
        self.exact = exact
        self.prefix = prefix
        self.suffix = suffix
        self.contains = contains
        self.regex = regex
        self.invert = invert
        self.ignoreCase = ignoreCase
    }
}
