/// Parses HCL (v1, as Consul's `hcl.Decode` reads ACL rules and agent configuration) and JSON into a
/// value tree.
///
/// Accepted: `key = value` and `"key": value`; blocks with labels (`service "web" { … }`), which nest
/// as objects; optional commas between members; strings, heredocs, numbers, `true`, `false`, `null`,
/// lists with an optional trailing comma, and objects. A document that starts with `{` is one JSON
/// (or HCL) object; otherwise it is a sequence of members. Errors carry the 1-based line and column
/// of the offending token.
public enum HCLParser {
    /// Parses `text` into an object value holding the document's members.
    public static func parse(_ text: String) throws(HCLError) -> HCLValue {
        var lexer = HCLLexer(text)
        var parser = HCLTokenParser(tokens: try lexer.tokenize())
        return try parser.parseDocument()
    }
}

/// Recursive descent over the lexer's tokens.
private struct HCLTokenParser {
    /// How deeply lists and objects may nest: far beyond any policy, and bounded so that input
    /// cannot exhaust the stack (5,000 nested `[` crashed authz-svc).
    static let maximumDepth = 100

    private let tokens: [HCLToken]
    private var index = 0
    private var depth = 0

    /// A parser over `tokens`, which must end with `.end`.
    init(tokens: [HCLToken]) {
        self.tokens = tokens
    }

    /// The current token; the final `.end` token repeats forever.
    private var current: HCLToken {
        self.index < self.tokens.count
            ? self.tokens[self.index] : HCLToken(kind: .end, position: HCLPosition(line: 1, column: 1))
    }

    private mutating func advance() {
        if self.index < self.tokens.count - 1 { self.index += 1 }
    }

    /// A whole document: one `{ … }` object (JSON style) or a sequence of members (HCL style).
    mutating func parseDocument() throws(HCLError) -> HCLValue {
        let start = self.current.position
        if self.current.kind == .leftBrace {
            let object = try self.parseObject()
            guard self.current.kind == .end else {
                throw HCLError(
                    "unexpected \(self.current.summary) after the document's closing '}'",
                    at: self.current.position
                )
            }
            return object
        }
        let members = try self.parseMembers(openedAt: nil)
        return HCLValue(.object(members), at: start)
    }

    /// `{ members }`, starting at the current `{`.
    private mutating func parseObject() throws(HCLError) -> HCLValue {
        let open = self.current.position
        try self.enter(at: open)
        defer { self.depth -= 1 }
        self.advance()
        let members = try self.parseMembers(openedAt: open)
        self.advance()  // the closing brace, checked by parseMembers
        return HCLValue(.object(members), at: open)
    }

    /// Members up to the `}` closing the brace at `open` (left current), or to the end of input when
    /// `open` is nil.
    private mutating func parseMembers(openedAt open: HCLPosition?) throws(HCLError) -> [HCLMember] {
        var members: [HCLMember] = []
        while true {
            switch self.current.kind {
            case .end:
                guard let open else { return members }
                throw HCLError("expected '}' to close the '{' at \(open)", at: self.current.position)
            case .rightBrace:
                guard open != nil else { throw HCLError("unexpected '}'", at: self.current.position) }
                return members
            case .comma:
                self.advance()
            case .identifier, .string:
                members.append(try self.parseMember())
            default:
                throw HCLError("expected a key, found \(self.current.summary)", at: self.current.position)
            }
        }
    }

    /// `key = value`, `"key": value`, or a block `key "label" … { members }`.
    private mutating func parseMember() throws(HCLError) -> HCLMember {
        var keys: [(name: String, position: HCLPosition)] = []
        while let name = self.current.keyName {
            keys.append((name, self.current.position))
            self.advance()
        }
        let names = keys.map { HCLToken.quoted($0.name) }.joined(separator: " ")
        guard let first = keys.first else {
            throw HCLError("expected a key, found \(self.current.summary)", at: self.current.position)
        }
        switch self.current.kind {
        case .equals, .colon:
            guard keys.count == 1 else {
                throw HCLError("expected '{' after key \(names)", at: self.current.position)
            }
            self.advance()
            return HCLMember(key: first.name, at: first.position, value: try self.parseValue())
        case .leftBrace:
            var value = try self.parseObject()
            for label in keys.dropFirst().reversed() {
                value = HCLValue(
                    .object([HCLMember(key: label.name, at: label.position, value: value)]),
                    at: label.position
                )
            }
            return HCLMember(key: first.name, at: first.position, value: value)
        default:
            let expected = keys.count == 1 ? "'=' or '{'" : "'{'"
            throw HCLError("expected \(expected) after key \(names)", at: self.current.position)
        }
    }

    /// One more level of nesting, refused past `maximumDepth`.
    private mutating func enter(at position: HCLPosition) throws(HCLError) {
        guard self.depth < Self.maximumDepth else {
            throw HCLError("lists and objects nest more than \(Self.maximumDepth) deep", at: position)
        }
        self.depth += 1
    }

    /// A literal, list or object.
    private mutating func parseValue() throws(HCLError) -> HCLValue {
        let token = self.current
        let kind: HCLValue.Kind
        switch token.kind {
        case .string(let text), .heredoc(let text): kind = .string(text)
        case .number(let value): kind = .number(value)
        case .identifier("true"): kind = .bool(true)
        case .identifier("false"): kind = .bool(false)
        case .identifier("null"): kind = .null
        case .leftBrace: return try self.parseObject()
        case .leftBracket: return try self.parseList()
        case .identifier(let name):
            throw HCLError("expected a value, found '\(name)' (strings must be quoted)", at: token.position)
        default:
            throw HCLError("expected a value, found \(token.summary)", at: token.position)
        }
        self.advance()
        return HCLValue(kind, at: token.position)
    }

    /// `[value, value,]`, starting at the current `[`.
    private mutating func parseList() throws(HCLError) -> HCLValue {
        let open = self.current.position
        try self.enter(at: open)
        defer { self.depth -= 1 }
        self.advance()
        var values: [HCLValue] = []
        while true {
            if self.current.kind == .rightBracket {
                self.advance()
                return HCLValue(.list(values), at: open)
            }
            values.append(try self.parseValue())
            switch self.current.kind {
            case .comma:
                self.advance()
            case .rightBracket:
                break
            default:
                throw HCLError(
                    "expected ',' or ']' in the list, found \(self.current.summary)",
                    at: self.current.position
                )
            }
        }
    }
}
