/// Splits HCL (v1) or JSON text into tokens, skipping whitespace and `#`, `//` and `/* */` comments.
///
/// Strings are decoded here (escapes, heredocs), so the parser only sees values.
struct HCLLexer {
    private let scalars: [Unicode.Scalar]
    private var index = 0
    private var line = 1
    private var column = 1

    /// A lexer over `text`.
    init(_ text: String) {
        self.scalars = Array(text.unicodeScalars)
    }

    /// All tokens of the text, ending with one `.end` token.
    mutating func tokenize() throws(HCLError) -> [HCLToken] {
        var tokens: [HCLToken] = []
        while true {
            try self.skipTrivia()
            let position = self.position
            guard let scalar = self.peek() else {
                tokens.append(HCLToken(kind: .end, position: position))
                return tokens
            }
            let kind: HCLToken.Kind
            switch scalar {
            case "{": kind = self.single(.leftBrace)
            case "}": kind = self.single(.rightBrace)
            case "[": kind = self.single(.leftBracket)
            case "]": kind = self.single(.rightBracket)
            case "=": kind = self.single(.equals)
            case ":": kind = self.single(.colon)
            case ",": kind = self.single(.comma)
            case "\"": kind = .string(try self.lexString())
            case "<": kind = .heredoc(try self.lexHeredoc())
            case "-", "0"..."9": kind = .number(try self.lexNumber())
            default:
                guard Self.isIdentifierStart(scalar) else {
                    throw HCLError("unexpected character '\(scalar)'", at: position)
                }
                kind = .identifier(self.lexIdentifier())
            }
            tokens.append(HCLToken(kind: kind, position: position))
        }
    }

    // MARK: - Scanning primitives

    private var position: HCLPosition { HCLPosition(line: self.line, column: self.column) }

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        let target = self.index + offset
        return target < self.scalars.count ? self.scalars[target] : nil
    }

    private mutating func advance() {
        guard self.index < self.scalars.count else { return }
        if self.scalars[self.index] == "\n" {
            self.line += 1
            self.column = 1
        } else {
            self.column += 1
        }
        self.index += 1
    }

    private mutating func single(_ kind: HCLToken.Kind) -> HCLToken.Kind {
        self.advance()
        return kind
    }

    // MARK: - Whitespace and comments

    private mutating func skipTrivia() throws(HCLError) {
        while let scalar = self.peek() {
            switch scalar {
            case " ", "\t", "\n", "\r", "\u{FEFF}":
                self.advance()
            case "#":
                self.skipLine()
            case "/" where self.peek(1) == "/":
                self.skipLine()
            case "/" where self.peek(1) == "*":
                let start = self.position
                self.advance()
                self.advance()
                while !(self.peek() == "*" && self.peek(1) == "/") {
                    guard self.peek() != nil else { throw HCLError("unterminated /* comment", at: start) }
                    self.advance()
                }
                self.advance()
                self.advance()
            default:
                return
            }
        }
    }

    private mutating func skipLine() {
        while let scalar = self.peek(), scalar != "\n" {
            self.advance()
        }
    }

    // MARK: - Identifiers and numbers

    private static func isIdentifierStart(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "_" || ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
            || (!scalar.isASCII && scalar.properties.isAlphabetic)
    }

    private static func isIdentifierPart(_ scalar: Unicode.Scalar) -> Bool {
        Self.isIdentifierStart(scalar) || Self.isDigit(scalar) || scalar == "-" || scalar == "."
    }

    private static func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }

    private mutating func lexIdentifier() -> String {
        var text = String.UnicodeScalarView()
        while let scalar = self.peek(), Self.isIdentifierPart(scalar) {
            text.append(scalar)
            self.advance()
        }
        return String(text)
    }

    private mutating func lexNumber() throws(HCLError) -> Double {
        let start = self.position
        var text = ""
        if self.peek() == "-" {
            text.append("-")
            self.advance()
        }
        guard let first = self.peek(), Self.isDigit(first) else {
            throw HCLError("expected a digit after '-'", at: start)
        }
        if first == "0", self.peek(1) == "x" || self.peek(1) == "X" {
            self.advance()
            self.advance()
            var digits = ""
            while let scalar = self.peek(), scalar.properties.isASCIIHexDigit {
                digits.unicodeScalars.append(scalar)
                self.advance()
            }
            guard let value = Int64(digits, radix: 16) else { throw HCLError("invalid hex number", at: start) }
            try self.expectNumberEnd(start)
            return text == "-" ? -Double(value) : Double(value)
        }
        self.appendDigits(to: &text)
        if self.peek() == ".", let next = self.peek(1), Self.isDigit(next) {
            text.append(".")
            self.advance()
            self.appendDigits(to: &text)
        }
        if self.peek() == "e" || self.peek() == "E" {
            text.append("e")
            self.advance()
            if let sign = self.peek(), sign == "+" || sign == "-" {
                text.unicodeScalars.append(sign)
                self.advance()
            }
            guard let digit = self.peek(), Self.isDigit(digit) else {
                throw HCLError("expected digits in the number's exponent", at: start)
            }
            self.appendDigits(to: &text)
        }
        try self.expectNumberEnd(start)
        guard let value = Double(text) else { throw HCLError("invalid number \(text)", at: start) }
        return value
    }

    private mutating func appendDigits(to text: inout String) {
        while let scalar = self.peek(), Self.isDigit(scalar) {
            text.unicodeScalars.append(scalar)
            self.advance()
        }
    }

    private func expectNumberEnd(_ start: HCLPosition) throws(HCLError) {
        if let scalar = self.peek(), Self.isIdentifierPart(scalar) {
            throw HCLError("invalid number: unexpected '\(scalar)'", at: start)
        }
    }

    // MARK: - Strings

    private mutating func lexString() throws(HCLError) -> String {
        let start = self.position
        self.advance()
        var text = String.UnicodeScalarView()
        while true {
            guard let scalar = self.peek(), scalar != "\n" else {
                throw HCLError("unterminated string", at: start)
            }
            switch scalar {
            case "\"":
                self.advance()
                return String(text)
            case "\\":
                text.append(try self.lexEscape())
            default:
                text.append(scalar)
                self.advance()
            }
        }
    }

    private mutating func lexEscape() throws(HCLError) -> Unicode.Scalar {
        let start = self.position
        self.advance()
        guard let escaped = self.peek() else { throw HCLError("unterminated string", at: start) }
        self.advance()
        switch escaped {
        case "n": return "\n"
        case "t": return "\t"
        case "r": return "\r"
        case "\"": return "\""
        case "\\": return "\\"
        case "/": return "/"
        case "a": return "\u{07}"
        case "b": return "\u{08}"
        case "f": return "\u{0C}"
        case "v": return "\u{0B}"
        case "U":
            let value = try self.lexHex(count: 8, escapeStart: start)
            guard let scalar = Unicode.Scalar(value) else { throw HCLError("invalid unicode escape", at: start) }
            return scalar
        case "u":
            let value = try self.lexHex(count: 4, escapeStart: start)
            if let scalar = Unicode.Scalar(value) { return scalar }
            // A UTF-16 surrogate pair, as JSON writes characters outside the basic plane.
            guard (0xD800...0xDBFF).contains(value), self.peek() == "\\", self.peek(1) == "u" else {
                throw HCLError("invalid unicode escape", at: start)
            }
            self.advance()
            self.advance()
            let low = try self.lexHex(count: 4, escapeStart: start)
            guard (0xDC00...0xDFFF).contains(low),
                let scalar = Unicode.Scalar(0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00))
            else { throw HCLError("invalid unicode escape", at: start) }
            return scalar
        default:
            throw HCLError("invalid escape sequence '\\\(escaped)'", at: start)
        }
    }

    private mutating func lexHex(count: Int, escapeStart: HCLPosition) throws(HCLError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<count {
            guard let scalar = self.peek(), scalar.properties.isASCIIHexDigit,
                let digit = UInt32(String(scalar), radix: 16)
            else { throw HCLError("invalid unicode escape", at: escapeStart) }
            value = value << 4 | digit
            self.advance()
        }
        return value
    }

    // MARK: - Heredocs

    /// `<<EOF` … `EOF`, or `<<-EOF` whose terminator may be indented; with `<<-` the terminator's
    /// indentation is removed from every line that has it (when all non-blank lines do).
    private mutating func lexHeredoc() throws(HCLError) -> String {
        let start = self.position
        guard self.peek(1) == "<" else { throw HCLError("unexpected character '<'", at: start) }
        self.advance()
        self.advance()
        let indented = self.peek() == "-"
        if indented { self.advance() }
        guard let first = self.peek(), Self.isIdentifierStart(first) else {
            throw HCLError("expected a heredoc anchor after '<<'", at: start)
        }
        let anchor = self.lexIdentifier()
        if self.peek() == "\r" { self.advance() }
        guard self.peek() == "\n" else {
            throw HCLError("heredoc anchor \(anchor) must be followed by a newline", at: self.position)
        }
        self.advance()
        var lines: [String] = []
        while self.peek() != nil {
            let line = self.lexLine()
            let content = Self.trimmingTrailingSpace(line)
            let leading = content.prefix { $0 == " " || $0 == "\t" }
            if content == anchor || (indented && content.dropFirst(leading.count) == anchor) {
                return Self.heredocBody(lines, indentation: indented ? String(leading) : "")
            }
            lines.append(line)
            if self.peek() == "\n" { self.advance() }
        }
        throw HCLError("unterminated heredoc: no line \(anchor) ends it", at: start)
    }

    /// The rest of the current line, without its newline (nor a trailing carriage return).
    private mutating func lexLine() -> String {
        var text = String.UnicodeScalarView()
        while let scalar = self.peek(), scalar != "\n" {
            text.append(scalar)
            self.advance()
        }
        if text.last == "\r" { text.removeLast() }
        return String(text)
    }

    private static func trimmingTrailingSpace(_ line: String) -> Substring {
        var result = Substring(line)
        while let last = result.last, last == " " || last == "\t" {
            result.removeLast()
        }
        return result
    }

    private static func heredocBody(_ lines: [String], indentation: String) -> String {
        var body = lines
        let isBlank: (String) -> Bool = { $0.allSatisfy { $0 == " " || $0 == "\t" } }
        if !indentation.isEmpty, body.allSatisfy({ $0.hasPrefix(indentation) || isBlank($0) }) {
            body = body.map { $0.hasPrefix(indentation) ? String($0.dropFirst(indentation.count)) : "" }
        }
        return body.map { $0 + "\n" }.joined()
    }
}
