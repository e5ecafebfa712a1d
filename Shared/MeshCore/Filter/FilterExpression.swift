import Foundation

/// Consul's `?filter=` language (HashiCorp's go-bexpr), evaluated over the JSON an endpoint
/// answers: `Service.Tags contains "v1" and Node.Meta.rack == "r1"`, `Checks.Status != passing`,
/// `"web" in Service.Tags`, `Service.Meta is empty`, `Node.Node matches "^db-"`,
/// `not (Service.Port == 8080)`.
///
/// A selector names a path of fields (`A.B`, or `A["key with spaces"]`); a path through a list
/// looks at every element (a match by any of them counts), as go-bexpr does for Consul's
/// `Checks.Status`. Field names are matched exactly as the endpoint's JSON spells them.
public struct FilterExpression: Sendable {
    indirect enum Node: Sendable {
        case and(Node, Node)
        case or(Node, Node)
        case not(Node)
        case match(Match)
    }

    struct Match: Sendable {
        enum Operator: Sendable {
            case equal, notEqual, contains, notContains, isEmpty, isNotEmpty, matches, notMatches
        }

        var selector: [String]
        var op: Operator
        var value: String
        var regex: NSRegularExpressionBox?
    }

    let root: Node

    /// Parses `text`; throws `FilterError` with the position and what was expected.
    public init(_ text: String) throws(FilterError) {
        var parser = FilterParser(tokens: try FilterLexer.tokens(of: text))
        self.root = try parser.expression()
        guard parser.atEnd else { throw FilterError("unexpected \(parser.current) after the expression") }
    }

    /// Parses `text` and checks every selector against `schema` (the endpoint's type).
    public init(_ text: String, schema: FilterSchema) throws(FilterError) {
        try self.init(text)
        if let refused = Self.selectors(of: self.root).first(where: { !schema.accepts($0[...]) }) {
            throw FilterError("Selector \"\(refused.joined(separator: "."))\" is not valid")
        }
    }

    private static func selectors(of node: Node) -> [[String]] {
        switch node {
        case .and(let left, let right), .or(let left, let right): selectors(of: left) + selectors(of: right)
        case .not(let inner): selectors(of: inner)
        case .match(let match): [match.selector]
        }
    }

    /// Whether `value` (one element of an answer) matches.
    public func matches(_ value: JSONValue) -> Bool {
        Self.evaluate(self.root, value)
    }

    private static func evaluate(_ node: Node, _ value: JSONValue) -> Bool {
        switch node {
        case .and(let left, let right): evaluate(left, value) && evaluate(right, value)
        case .or(let left, let right): evaluate(left, value) || evaluate(right, value)
        case .not(let inner): !evaluate(inner, value)
        case .match(let match): match.holds(on: value)
        }
    }
}

extension FilterExpression.Match {
    func holds(on root: JSONValue) -> Bool {
        let found = Self.resolve(self.selector[...], in: root)
        switch self.op {
        case .equal: return found.contains { Self.equals($0, self.value) }
        case .notEqual: return !found.contains { Self.equals($0, self.value) }
        case .contains: return found.contains { Self.contains($0, self.value) }
        case .notContains: return !found.contains { Self.contains($0, self.value) }
        case .isEmpty: return found.allSatisfy(Self.isEmpty)
        case .isNotEmpty: return !found.allSatisfy(Self.isEmpty)
        case .matches: return found.contains { self.regex?.matches($0) ?? false }
        case .notMatches: return !found.contains { self.regex?.matches($0) ?? false }
        }
    }

    /// The values at `path` under `value`; a list on the way is looked into element by element.
    static func resolve(_ path: ArraySlice<String>, in value: JSONValue) -> [JSONValue] {
        guard let first = path.first else { return [value] }
        switch value {
        case .object(let fields):
            guard let next = fields[first] else { return [] }
            return resolve(path.dropFirst(), in: next)
        case .array(let items):
            return items.flatMap { resolve(path, in: $0) }
        default:
            return []
        }
    }

    static func equals(_ value: JSONValue, _ text: String) -> Bool {
        switch value {
        case .string(let string): string == text
        case .number(let number): Double(text) == number
        case .bool(let bool): Bool(text.lowercased()) == bool
        case .null: text.isEmpty
        case .array, .object: false
        }
    }

    static func contains(_ value: JSONValue, _ text: String) -> Bool {
        switch value {
        case .array(let items): items.contains { equals($0, text) }
        case .object(let fields): fields[text] != nil
        case .string(let string): string.contains(text)
        default: false
        }
    }

    static func isEmpty(_ value: JSONValue) -> Bool {
        switch value {
        case .null: true
        case .string(let string): string.isEmpty
        case .array(let items): items.isEmpty
        case .object(let fields): fields.isEmpty
        case .bool, .number: false
        }
    }
}

/// A compiled regular expression (`matches`), checked when the filter is parsed.
struct NSRegularExpressionBox: @unchecked Sendable {
    // NSRegularExpression is immutable once made and documented as safe to share between threads.
    let regex: NSRegularExpression

    init(_ pattern: String) throws(FilterError) {
        do {
            self.regex = try NSRegularExpression(pattern: pattern)
        } catch {
            throw FilterError("invalid regular expression \"\(pattern)\"")
        }
    }

    func matches(_ value: JSONValue) -> Bool {
        guard case .string(let text) = value else { return false }
        return self.regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}

/// Why a filter could not be read (the endpoint answers 400 with it).
public struct FilterError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
