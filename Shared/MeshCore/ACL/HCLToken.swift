/// One lexical token of HCL (v1) or JSON.
struct HCLToken: Sendable, Equatable {
    /// The token's kind and, for literals, its decoded value.
    enum Kind: Sendable, Equatable {
        case identifier(String)
        case string(String)
        case heredoc(String)
        case number(Double)
        case leftBrace, rightBrace, leftBracket, rightBracket, equals, colon, comma
        case end
    }

    /// The token's kind and value.
    var kind: Kind
    /// Where the token starts.
    var position: HCLPosition

    /// The key this token spells when it starts or labels a member: identifiers and quoted strings.
    var keyName: String? {
        switch self.kind {
        case .identifier(let name), .string(let name): name
        default: nil
        }
    }

    /// How the token reads in an error message ("'='", "string \"x\"", "end of input").
    var summary: String {
        switch self.kind {
        case .identifier(let name): "'\(name)'"
        case .string(let text): "string \(HCLToken.quoted(text))"
        case .heredoc: "heredoc"
        case .number(let value):
            value.rounded() == value && abs(value) < 1e15 ? "number \(Int64(value))" : "number \(value)"
        case .leftBrace: "'{'"
        case .rightBrace: "'}'"
        case .leftBracket: "'['"
        case .rightBracket: "']'"
        case .equals: "'='"
        case .colon: "':'"
        case .comma: "','"
        case .end: "end of input"
        }
    }

    /// `text` in double quotes, with quotes and backslashes escaped, for messages.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for character in text {
            switch character {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            default: result.append(character)
            }
        }
        return result + "\""
    }
}
