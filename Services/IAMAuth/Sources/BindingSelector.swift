import Foundation

/// A binding rule's `Selector`: the boolean expression language of HashiCorp's go-bexpr, as
/// Consul evaluates it against an auth method's selectable fields (for `aws-iam`:
/// `entity_name`, `entity_id`, `account_id`, `entity_path`, `entity_tags`).
///
/// Supported: `==`, `!=`, `is empty`, `is not empty`, `in`, `not in`, `contains`,
/// `not contains`, `matches`, `not matches`, `and`, `or`, `not`, parentheses; selectors with
/// `.field` and `["key"]` steps; values quoted with `"…"` or `` `…` ``, or bare words.
struct BindingSelector: Sendable, Equatable {
    /// A field value a selector can reach: a string, or a map of strings (tags).
    enum Value: Sendable, Equatable {
        case string(String)
        case map([String: String])
    }

    indirect enum Expression: Sendable, Equatable {
        case and(Expression, Expression)
        case or(Expression, Expression)
        case not(Expression)
        case match(Match)
    }

    struct Match: Sendable, Equatable {
        enum Operator: Sendable, Equatable {
            case equal, notEqual, isEmpty, isNotEmpty, contains, notContains, matches, notMatches
        }
        var path: [String]
        var op: Operator
        var value: String
    }

    struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        var position: Int
        var reason: String
        var description: String { "\(self.reason) at position \(self.position)" }
    }

    let expression: Expression

    /// Parses `text`, checking that every selector names one of `fields` (a map field may be
    /// indexed by any key).
    init(_ text: String, fields: [String: FieldKind]) throws(ParseError) {
        var parser = Parser(tokens: try Lexer.tokens(of: text), fields: fields)
        self.expression = try parser.parseExpression()
        if let extra = parser.peek {
            throw ParseError(position: extra.position, reason: "unexpected \(extra.text)")
        }
    }

    /// The kinds of selectable field.
    enum FieldKind: Sendable {
        case string
        case map
    }

    /// Whether `values` satisfy the expression.
    func matches(_ values: [String: Value]) -> Bool {
        Self.evaluate(self.expression, values)
    }

    private static func evaluate(_ expression: Expression, _ values: [String: Value]) -> Bool {
        switch expression {
        case .and(let left, let right): evaluate(left, values) && evaluate(right, values)
        case .or(let left, let right): evaluate(left, values) || evaluate(right, values)
        case .not(let inner): !evaluate(inner, values)
        case .match(let match): evaluate(match, values)
        }
    }

    private static func evaluate(_ match: Match, _ values: [String: Value]) -> Bool {
        let target = self.resolve(match.path, in: values)
        switch match.op {
        case .equal:
            if case .string(let text)? = target { return text == match.value }
            return false
        case .notEqual:
            if case .string(let text)? = target { return text != match.value }
            return true
        case .isEmpty, .isNotEmpty:
            let empty: Bool
            switch target {
            case .string(let text)?: empty = text.isEmpty
            case .map(let map)?: empty = map.isEmpty
            case nil: empty = true
            }
            return match.op == .isEmpty ? empty : !empty
        case .contains, .notContains:
            let found: Bool
            switch target {
            case .string(let text)?: found = text.contains(match.value)
            case .map(let map)?: found = map[match.value] != nil
            case nil: found = false
            }
            return match.op == .contains ? found : !found
        case .matches, .notMatches:
            guard case .string(let text)? = target,
                let regex = try? NSRegularExpression(pattern: match.value)
            else {
                return match.op == .notMatches
            }
            let found = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
            return match.op == .matches ? found : !found
        }
    }

    private static func resolve(_ path: [String], in values: [String: Value]) -> Value? {
        guard let first = path.first, let value = values[first] else { return nil }
        switch (value, path.count) {
        case (_, 1): return value
        case (.map(let map), 2): return map[path[1]].map(Value.string)
        default: return nil
        }
    }
}

extension BindingSelector {
    struct Token: Sendable, Equatable {
        enum Kind: Sendable, Equatable {
            case word, quoted, symbol
        }
        var kind: Kind
        var text: String
        var position: Int
    }

    enum Lexer {
        static func tokens(of text: String) throws(ParseError) -> [Token] {
            let characters = Array(text)
            var tokens: [Token] = []
            var index = 0
            while index < characters.count {
                let character = characters[index]
                if character.isWhitespace {
                    index += 1
                    continue
                }
                let start = index
                switch character {
                case "(", ")", "[", "]", ".":
                    tokens.append(Token(kind: .symbol, text: String(character), position: start))
                    index += 1
                case "=", "!":
                    guard index + 1 < characters.count, characters[index + 1] == "=" else {
                        throw ParseError(position: start, reason: "expected \(character)=")
                    }
                    tokens.append(Token(kind: .symbol, text: "\(character)=", position: start))
                    index += 2
                case "\"", "`":
                    index += 1
                    var value = ""
                    var closed = false
                    while index < characters.count {
                        let next = characters[index]
                        if next == character {
                            closed = true
                            index += 1
                            break
                        }
                        if next == "\\" && character == "\"" && index + 1 < characters.count {
                            let escaped = characters[index + 1]
                            value.append(escaped == "n" ? "\n" : escaped == "t" ? "\t" : escaped)
                            index += 2
                            continue
                        }
                        value.append(next)
                        index += 1
                    }
                    guard closed else { throw ParseError(position: start, reason: "unterminated string") }
                    tokens.append(Token(kind: .quoted, text: value, position: start))
                default:
                    var word = ""
                    while index < characters.count {
                        let next = characters[index]
                        guard next.isLetter || next.isNumber || "_-/:*@+".contains(next) else { break }
                        word.append(next)
                        index += 1
                    }
                    guard !word.isEmpty else {
                        throw ParseError(position: start, reason: "unexpected character \(character)")
                    }
                    tokens.append(Token(kind: .word, text: word, position: start))
                }
            }
            return tokens
        }
    }

    struct Parser {
        var tokens: [Token]
        var fields: [String: FieldKind]
        var index = 0
        var depth = 0
        var matches = 0

        init(tokens: [Token], fields: [String: FieldKind]) {
            self.tokens = tokens
            self.fields = fields
        }

        var peek: Token? { self.index < self.tokens.count ? self.tokens[self.index] : nil }

        private var endPosition: Int { (self.tokens.last?.position ?? 0) + (self.tokens.last?.text.count ?? 0) }

        mutating func next() throws(ParseError) -> Token {
            guard let token = self.peek else { throw ParseError(position: self.endPosition, reason: "unexpected end") }
            self.index += 1
            return token
        }

        mutating func accept(word: String) -> Bool {
            if let token = self.peek, token.kind == .word, token.text == word {
                self.index += 1
                return true
            }
            return false
        }

        mutating func accept(symbol: String) -> Bool {
            if let token = self.peek, token.kind == .symbol, token.text == symbol {
                self.index += 1
                return true
            }
            return false
        }

        mutating func expect(word: String) throws(ParseError) {
            guard self.accept(word: word) else {
                throw ParseError(position: self.peek?.position ?? self.endPosition, reason: "expected \(word)")
            }
        }

        mutating func parseExpression() throws(ParseError) -> Expression {
            var left = try self.parseAnd()
            while self.accept(word: "or") {
                left = .or(left, try self.parseAnd())
            }
            return left
        }

        mutating func parseAnd() throws(ParseError) -> Expression {
            var left = try self.parseNot()
            while self.accept(word: "and") {
                left = .and(left, try self.parseNot())
            }
            return left
        }

        /// How deeply `not` and parentheses may nest, and how many matches one selector may hold:
        /// the expression tree is evaluated (and freed) recursively, so its depth must be bounded
        /// (10,000 nested parentheses crashed iam-auth-svc).
        static let maximumDepth = 64
        static let maximumMatches = 256

        mutating func parseNot() throws(ParseError) -> Expression {
            let position = self.peek?.position ?? self.endPosition
            guard self.depth < Self.maximumDepth else {
                throw ParseError(position: position, reason: "expression nests more than \(Self.maximumDepth) deep")
            }
            self.depth += 1
            defer { self.depth -= 1 }
            if self.accept(word: "not") {
                return .not(try self.parseNot())
            }
            if self.accept(symbol: "(") {
                let inner = try self.parseExpression()
                guard self.accept(symbol: ")") else {
                    throw ParseError(position: self.peek?.position ?? self.endPosition, reason: "expected )")
                }
                return inner
            }
            return .match(try self.parseMatch())
        }

        /// `selector op value`, `selector is [not] empty`, or `value [not] in selector`.
        mutating func parseMatch() throws(ParseError) -> Match {
            self.matches += 1
            guard self.matches <= Self.maximumMatches else {
                throw ParseError(
                    position: self.peek?.position ?? self.endPosition,
                    reason: "more than \(Self.maximumMatches) matches in one selector"
                )
            }
            let start = self.index
            // `value [not] in selector` starts with a value followed by `in` or `not in`.
            if let first = self.peek {
                let afterFirst = self.index + 1 < self.tokens.count ? self.tokens[self.index + 1] : nil
                let afterSecond = self.index + 2 < self.tokens.count ? self.tokens[self.index + 2] : nil
                let isIn = afterFirst?.kind == .word && afterFirst?.text == "in"
                let isNotIn =
                    afterFirst?.kind == .word && afterFirst?.text == "not" && afterSecond?.kind == .word
                    && afterSecond?.text == "in"
                if isIn || isNotIn {
                    self.index += isIn ? 2 : 3
                    let path = try self.parseSelector()
                    return Match(path: path, op: isIn ? .contains : .notContains, value: first.text)
                }
            }
            self.index = start
            let path = try self.parseSelector()
            let token = try self.next()
            switch (token.kind, token.text) {
            case (.symbol, "=="): return Match(path: path, op: .equal, value: try self.parseValue())
            case (.symbol, "!="): return Match(path: path, op: .notEqual, value: try self.parseValue())
            case (.word, "is"):
                let negated = self.accept(word: "not")
                try self.expect(word: "empty")
                return Match(path: path, op: negated ? .isNotEmpty : .isEmpty, value: "")
            case (.word, "contains"): return Match(path: path, op: .contains, value: try self.parseValue())
            case (.word, "matches"): return Match(path: path, op: .matches, value: try self.parseRegex())
            case (.word, "not"):
                if self.accept(word: "contains") {
                    return Match(path: path, op: .notContains, value: try self.parseValue())
                }
                try self.expect(word: "matches")
                return Match(path: path, op: .notMatches, value: try self.parseRegex())
            default:
                throw ParseError(position: token.position, reason: "expected an operator, found \(token.text)")
            }
        }

        mutating func parseRegex() throws(ParseError) -> String {
            let position = self.peek?.position ?? self.endPosition
            let pattern = try self.parseValue()
            guard (try? NSRegularExpression(pattern: pattern)) != nil else {
                throw ParseError(position: position, reason: "invalid regular expression \(pattern)")
            }
            return pattern
        }

        mutating func parseValue() throws(ParseError) -> String {
            let token = try self.next()
            guard token.kind != .symbol else {
                throw ParseError(position: token.position, reason: "expected a value, found \(token.text)")
            }
            return token.text
        }

        /// `name(.key | ["key"])*`, checked against the known fields.
        mutating func parseSelector() throws(ParseError) -> [String] {
            let head = try self.next()
            guard head.kind == .word else {
                throw ParseError(position: head.position, reason: "expected a selector, found \(head.text)")
            }
            var path = [head.text]
            // A bare word may carry dots already lexed apart: `entity_tags.team`.
            while true {
                if self.accept(symbol: ".") {
                    let key = try self.next()
                    guard key.kind == .word else {
                        throw ParseError(position: key.position, reason: "expected a field name")
                    }
                    path.append(key.text)
                } else if self.accept(symbol: "[") {
                    let key = try self.next()
                    guard key.kind != .symbol, self.accept(symbol: "]") else {
                        throw ParseError(position: key.position, reason: "expected [\"key\"]")
                    }
                    path.append(key.text)
                } else {
                    break
                }
            }
            switch (self.fields[head.text], path.count) {
            case (.string?, 1), (.map?, 1), (.map?, 2): return path
            case (nil, _):
                throw ParseError(position: head.position, reason: "unknown selector \(head.text)")
            default:
                throw ParseError(position: head.position, reason: "invalid selector \(path.joined(separator: "."))")
            }
        }
    }
}
