#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A regular expression that must match a whole string, as Envoy's `safe_regex` (RE2) does,
/// in time linear in the string (``LinearRegex``): a peer chooses the paths and headers matched
/// here, so no pattern may make matching backtrack. Patterns RE2 refuses (backreferences,
/// lookaround) are refused here too, when the intention is written.
struct IntentionRegex: Sendable {
    private let expression: LinearRegex

    /// `nil` when the pattern is not RE2 syntax this engine compiles.
    init?(_ pattern: String) {
        guard let expression = try? LinearRegex(pattern) else { return nil }
        self.expression = expression
    }

    func matchesWhole(_ text: some StringProtocol) -> Bool {
        self.expression.matchesWhole(text)
    }
}

/// One permission compiled for evaluation, with Envoy's matching rules: path rules on the path
/// without query, header rules per `HeaderMatcher`, methods as an exact alternation; all must hold.
/// Strings compare byte for byte (Envoy does not normalize Unicode); `IgnoreCase` folds ASCII only.
struct IntentionPermissionMatcher: Sendable {
    let permission: IntentionPermission
    private let pathRegex: IntentionRegex?
    private let headerRegexes: [IntentionRegex?]

    init(_ permission: IntentionPermission) {
        self.permission = permission
        let http = permission.http
        self.pathRegex = (http?.pathRegex).flatMap { $0.isEmpty ? nil : IntentionRegex($0) }
        self.headerRegexes = (http?.header ?? []).map { $0.regex.isEmpty ? nil : IntentionRegex($0.regex) }
    }

    /// Whether the request satisfies the permission's HTTP block. A permission with a JWT requirement
    /// never matches (no token is verified here); a regex that did not compile matches nothing.
    func matches(_ request: IntentionHTTPRequest) -> Bool {
        guard self.permission.jwt == nil else { return false }
        guard let http = self.permission.http else { return true }
        let path = request.pathWithoutQuery
        // Like Consul's `convertPermission`, only the first path rule set counts.
        if !http.pathExact.isEmpty {
            guard path.utf8.elementsEqual(http.pathExact.utf8) else { return false }
        } else if !http.pathPrefix.isEmpty {
            guard path.utf8.starts(with: http.pathPrefix.utf8) else { return false }
        } else if !http.pathRegex.isEmpty {
            guard self.pathRegex?.matchesWhole(path) ?? false else { return false }
        }
        for (index, rule) in http.header.enumerated()
        where !Self.matches(rule, regex: self.headerRegexes[index], request: request) {
            return false
        }
        if !http.methods.isEmpty, !http.methods.contains(where: { $0.utf8.elementsEqual(request.method.utf8) }) {
            return false
        }
        return true
    }

    /// Envoy's `HeaderUtility::matchHeaders`: a missing header matches only an inverted presence rule;
    /// otherwise the rule's result, inverted when `Invert` is set.
    private static func matches(
        _ rule: IntentionHTTPHeaderPermission,
        regex: IntentionRegex?,
        request: IntentionHTTPRequest
    ) -> Bool {
        guard let value = request.headerValue(named: rule.name) else {
            return rule.invert && rule.present
        }
        let folded = { (text: String) in rule.ignoreCase ? Self.asciiLowercased(text) : Array(text.utf8) }
        let bytes = folded(value)
        let result: Bool
        if !rule.exact.isEmpty {
            result = bytes == folded(rule.exact)
        } else if !rule.regex.isEmpty {
            result = regex?.matchesWhole(value) ?? false
        } else if !rule.prefix.isEmpty {
            result = bytes.starts(with: folded(rule.prefix))
        } else if !rule.suffix.isEmpty {
            result = bytes.reversed().starts(with: folded(rule.suffix).reversed())
        } else if !rule.contains.isEmpty {
            result = Self.contains(bytes, folded(rule.contains))
        } else if rule.present {
            result = true
        } else {
            // Consul skips a rule with no criterion when generating Envoy config.
            return true
        }
        return result != rule.invert
    }

    private static func asciiLowercased(_ text: String) -> [UInt8] {
        text.utf8.map { (65...90).contains($0) ? $0 + 32 : $0 }
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { start in
            haystack[start..<(start + needle.count)].elementsEqual(needle)
        }
    }
}
