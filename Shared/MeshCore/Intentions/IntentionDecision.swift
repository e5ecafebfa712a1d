/// The outcome of an intention check, with what decided it.
public struct IntentionDecision: Sendable, Equatable {
    /// Whether the connection or request may proceed.
    public var allowed: Bool
    /// The intention that decided, or that the source matched before the default decided; `nil` when
    /// no intention covers the pair.
    public var matched: Intention?
    /// The index in `matched.permissions` of the permission that decided, when one did.
    public var permissionIndex: Int?
    /// Why, for logs and the API: `matched intention web -> db (deny)`, `default allow`, ...
    public var reason: String

    public init(allowed: Bool, matched: Intention? = nil, permissionIndex: Int? = nil, reason: String) {
        self.allowed = allowed
        self.matched = matched
        self.permissionIndex = permissionIndex
        self.reason = reason
    }

    /// No intention applied: the default policy decided.
    public static func byDefault(allowed: Bool) -> IntentionDecision {
        IntentionDecision(allowed: allowed, reason: allowed ? "default allow" : "default deny")
    }
}

/// The parts of an HTTP request that L7 intentions look at.
public struct IntentionHTTPRequest: Sendable {
    /// The method as sent (`GET`); compared exactly with `Methods`.
    public var method: String
    /// The request target's path, query and fragment included as received (`/api/v1?x=1`). Path rules
    /// see it without query and fragment, as Envoy's `url_path` does; a `:path` header rule sees it whole.
    public var path: String
    /// The headers in arrival order; a name may repeat. Names match case-insensitively.
    public var headers: [(name: String, value: String)]

    public init(method: String, path: String, headers: [(name: String, value: String)] = []) {
        self.method = method
        self.path = path
        self.headers = headers
    }

    /// The path Envoy's `url_path` matcher sees: everything before `?` or `#`.
    public var pathWithoutQuery: Substring {
        self.path.prefix { $0 != "?" && $0 != "#" }
    }

    /// The value a header rule sees, as Envoy computes it: repeated headers joined with `,`; `nil` when
    /// absent. `:method` and `:path` come from the request line, `:authority` from a `:authority` or
    /// else `Host` header.
    public func headerValue(named name: String) -> String? {
        let name = name.lowercased()
        switch name {
        case ":method": return self.method
        case ":path": return self.path
        case ":authority": return self.joinedHeader(":authority") ?? self.joinedHeader("host")
        default: return self.joinedHeader(name)
        }
    }

    private func joinedHeader(_ lowercasedName: String) -> String? {
        let values = self.headers.filter { $0.name.lowercased() == lowercasedName }.map(\.value)
        return values.isEmpty ? nil : values.joined(separator: ",")
    }
}
