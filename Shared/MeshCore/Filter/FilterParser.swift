/// The tokens of a filter: words (selectors, operators, unquoted values), quoted strings,
/// `==`, `!=`, parentheses, `.`, `[`, `]`.
enum FilterToken: Equatable, CustomStringConvertible {
    case word(String)
    case quoted(String)
    case symbol(String)
    case end

    var description: String {
        switch self {
        case .word(let word): "\"\(word)\""
        case .quoted(let text): "\"\(text)\""
        case .symbol(let symbol): "\"\(symbol)\""
        case .end: "the end"
        }
    }
}

enum FilterLexer {
    static func tokens(of text: String) throws(FilterError) -> [FilterToken] {
        var tokens: [FilterToken] = []
        var characters = Array(text)[...]
        while let character = characters.first {
            if character.isWhitespace {
                characters.removeFirst()
            } else if character == "\"" || character == "`" {
                characters.removeFirst()
                var value = ""
                var closed = false
                while let next = characters.popFirst() {
                    if next == character {
                        closed = true
                        break
                    }
                    if next == "\\" && character == "\"", let escaped = characters.popFirst() {
                        value.append(escaped)
                    } else {
                        value.append(next)
                    }
                }
                guard closed else { throw FilterError("unterminated string") }
                tokens.append(.quoted(value))
            } else if character == "=" || character == "!" {
                characters.removeFirst()
                guard characters.popFirst() == "=" else { throw FilterError("expected \"\(character)=\"") }
                tokens.append(.symbol("\(character)="))
            } else if "().[]".contains(character) {
                characters.removeFirst()
                tokens.append(.symbol(String(character)))
            } else if Self.isWordCharacter(character) {
                var word = ""
                while let next = characters.first, Self.isWordCharacter(next) {
                    word.append(next)
                    characters.removeFirst()
                }
                tokens.append(.word(word))
            } else {
                throw FilterError("unexpected character \"\(character)\"")
            }
        }
        return tokens + [.end]
    }

    static func isWordCharacter(_ character: Character) -> Bool {
        character.isLetter || character.isNumber || "_-:/+@".contains(character)
    }
}

/// go-bexpr's grammar: `or` of `and` of (`not` | `( … )` | match), where a match is
/// `Selector == Value`, `!=`, `contains`, `not contains`, `matches`, `not matches`,
/// `is empty`, `is not empty`, or `Value in Selector` / `Value not in Selector`.
struct FilterParser {
    var tokens: [FilterToken]
    var position = 0

    var current: FilterToken { self.tokens[self.position] }
    var atEnd: Bool { self.current == .end }

    mutating func advance() { if !self.atEnd { self.position += 1 } }

    mutating func expression() throws(FilterError) -> FilterExpression.Node {
        var node = try self.conjunction()
        while self.current == .word("or") {
            self.advance()
            node = .or(node, try self.conjunction())
        }
        return node
    }

    mutating func conjunction() throws(FilterError) -> FilterExpression.Node {
        var node = try self.unary()
        while self.current == .word("and") {
            self.advance()
            node = .and(node, try self.unary())
        }
        return node
    }

    mutating func unary() throws(FilterError) -> FilterExpression.Node {
        if self.current == .word("not") {
            self.advance()
            return .not(try self.unary())
        }
        if self.current == .symbol("(") {
            self.advance()
            let inner = try self.expression()
            guard self.current == .symbol(")") else { throw FilterError("expected \")\", found \(self.current)") }
            self.advance()
            return inner
        }
        return .match(try self.match())
    }

    mutating func match() throws(FilterError) -> FilterExpression.Match {
        // `Value in Selector` starts with a value: a quoted string, or a word followed by `in`/`not in`.
        if case .quoted(let value) = self.current {
            self.advance()
            return try self.membership(value)
        }
        if case .word(let word) = self.current,
            self.tokens[self.position + 1] == .word("in")
                || (self.tokens[self.position + 1] == .word("not") && self.position + 2 < self.tokens.count
                    && self.tokens[self.position + 2] == .word("in"))
        {
            self.advance()
            return try self.membership(word)
        }
        let selector = try self.selector()
        let op: FilterExpression.Match.Operator
        switch self.current {
        case .symbol("=="): op = .equal
        case .symbol("!="): op = .notEqual
        case .word("contains"): op = .contains
        case .word("matches"): op = .matches
        case .word("is"):
            self.advance()
            if self.current == .word("not") {
                self.advance()
                guard self.current == .word("empty") else { throw FilterError("expected \"empty\" after \"is not\"") }
                self.advance()
                return FilterExpression.Match(selector: selector, op: .isNotEmpty, value: "")
            }
            guard self.current == .word("empty") else { throw FilterError("expected \"empty\" after \"is\"") }
            self.advance()
            return FilterExpression.Match(selector: selector, op: .isEmpty, value: "")
        case .word("not"):
            self.advance()
            switch self.current {
            case .word("contains"): op = .notContains
            case .word("matches"): op = .notMatches
            default: throw FilterError("expected \"contains\" or \"matches\" after \"not\", found \(self.current)")
            }
        default:
            throw FilterError("expected an operator after the selector, found \(self.current)")
        }
        self.advance()
        let value = try self.value()
        var match = FilterExpression.Match(selector: selector, op: op, value: value)
        if op == .matches || op == .notMatches { match.regex = try NSRegularExpressionBox(value) }
        return match
    }

    /// `<value> in <selector>` / `<value> not in <selector>` (the value was read).
    mutating func membership(_ value: String) throws(FilterError) -> FilterExpression.Match {
        var negated = false
        if self.current == .word("not") {
            negated = true
            self.advance()
        }
        guard self.current == .word("in") else {
            throw FilterError("expected \"in\" after a value, found \(self.current)")
        }
        self.advance()
        return FilterExpression.Match(
            selector: try self.selector(),
            op: negated ? .notContains : .contains,
            value: value
        )
    }

    mutating func selector() throws(FilterError) -> [String] {
        guard case .word(let first) = self.current, !Self.keywords.contains(first) else {
            throw FilterError("expected a selector, found \(self.current)")
        }
        var path = [first]
        self.advance()
        while true {
            if self.current == .symbol(".") {
                self.advance()
                guard case .word(let field) = self.current else {
                    throw FilterError("expected a field name after \".\", found \(self.current)")
                }
                path.append(field)
                self.advance()
            } else if self.current == .symbol("[") {
                self.advance()
                guard case .quoted(let key) = self.current else {
                    throw FilterError("expected a quoted key after \"[\", found \(self.current)")
                }
                self.advance()
                guard self.current == .symbol("]") else { throw FilterError("expected \"]\", found \(self.current)") }
                self.advance()
                path.append(key)
            } else {
                return path
            }
        }
    }

    mutating func value() throws(FilterError) -> String {
        switch self.current {
        case .quoted(let text), .word(let text):
            self.advance()
            return text
        default:
            throw FilterError("expected a value, found \(self.current)")
        }
    }

    static let keywords: Set<String> = ["and", "or", "not", "in", "is", "empty", "contains", "matches"]
}
