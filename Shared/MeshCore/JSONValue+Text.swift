/// JSON text to `JSONValue` and back, directly over UTF-8 bytes.
///
/// Why not `JSONDecoder`/`JSONEncoder`: every Consul REST response is rendered as a `JSONValue`
/// tree, and going through `Codable` cost catalog-svc 45% of its CPU on a 100-instance
/// `/v1/health/service` read (a generic container and a metadata lookup per value), while
/// decoding a request body tried each JSON type in turn and threw an error per miss. The text
/// grammar is RFC 8259; the output is what `JSONEncoder` with `.withoutEscapingSlashes` writes,
/// but with object keys sorted (as Go's encoding/json writes maps), so that responses are
/// deterministic.
extension JSONValue {
    /// The deepest nesting of arrays and objects accepted (as `JSONDecoder`'s limit): deeper
    /// input is refused rather than risk the stack.
    public static let maximumDepth = 512

    /// Parses one JSON document (surrounding whitespace allowed, nothing else).
    public init(parsing bytes: some Collection<UInt8>) throws(JSONSyntaxError) {
        let parsed: Result<JSONValue, JSONSyntaxError>? = bytes.withContiguousStorageIfAvailable { buffer in
            var parser = JSONTextParser(buffer)
            return Result { () throws(JSONSyntaxError) in try parser.document() }
        }
        if let parsed {
            self = try parsed.get()
        } else {
            let copy = Array(bytes)
            self = try copy.withUnsafeBufferPointer { buffer throws(JSONSyntaxError) in
                var parser = JSONTextParser(buffer)
                return try parser.document()
            }
        }
    }

    /// The value as compact UTF-8 JSON text.
    public func serialized() -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        self.write(into: &output)
        return output
    }

    /// Appends the value as compact UTF-8 JSON text.
    public func write(into output: inout [UInt8]) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let value): output.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let value): Self.writeNumber(value, into: &output)
        case .string(let value): Self.writeString(value, into: &output)
        case .array(let values):
            output.append(UInt8(ascii: "["))
            for (position, value) in values.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                value.write(into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (position, member) in members.sorted(by: { $0.key < $1.key }).enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                Self.writeString(member.key, into: &output)
                output.append(UInt8(ascii: ":"))
                member.value.write(into: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Integral values as integers (as `JSONValue`'s `Encodable` conformance writes them).
    private static func writeNumber(_ value: Double, into output: inout [UInt8]) {
        if value.rounded() == value, abs(value) < 1e15 {
            output.append(contentsOf: String(Int64(value)).utf8)
        } else if value.isFinite {
            output.append(contentsOf: value.description.utf8)
        } else {
            output.append(contentsOf: "null".utf8)
        }
    }

    private static func writeString(_ value: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                output.append(contentsOf: "\\u00".utf8)
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0xF)])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}

/// Why a JSON text was refused, and where.
public struct JSONSyntaxError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The byte offset of the problem.
    public var offset: Int
    public var reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "malformed JSON at byte \(self.offset): \(self.reason)" }
}

/// A recursive-descent parser over one contiguous buffer.
private struct JSONTextParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    var depth = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func document() throws(JSONSyntaxError) -> JSONValue {
        let value = try self.value()
        self.skipWhitespace()
        guard self.position == self.bytes.count else { throw self.error("unexpected text after the value") }
        return value
    }

    private func error(_ reason: String) -> JSONSyntaxError {
        JSONSyntaxError(offset: self.position, reason: reason)
    }

    private var current: UInt8? { self.position < self.bytes.count ? self.bytes[self.position] : nil }

    private mutating func skipWhitespace() {
        while let byte = self.current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
            self.position += 1
        }
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(JSONSyntaxError) {
        guard self.current == byte else { throw self.error("expected \(what)") }
        self.position += 1
    }

    private mutating func value() throws(JSONSyntaxError) -> JSONValue {
        self.skipWhitespace()
        guard let byte = self.current else { throw self.error("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"): return try self.object()
        case UInt8(ascii: "["): return try self.array()
        case UInt8(ascii: "\""): return .string(try self.string())
        case UInt8(ascii: "t"): return try self.literal("true", .bool(true))
        case UInt8(ascii: "f"): return try self.literal("false", .bool(false))
        case UInt8(ascii: "n"): return try self.literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try self.number())
        default: throw self.error("unexpected character")
        }
    }

    private mutating func literal(_ text: StaticString, _ value: JSONValue) throws(JSONSyntaxError) -> JSONValue {
        let count = text.utf8CodeUnitCount
        guard self.bytes.count - self.position >= count,
            UnsafeBufferPointer(rebasing: self.bytes[self.position..<self.position + count])
                .elementsEqual(UnsafeBufferPointer(start: text.utf8Start, count: count))
        else { throw self.error("invalid literal") }
        self.position += count
        return value
    }

    private mutating func enter() throws(JSONSyntaxError) {
        self.depth += 1
        guard self.depth <= JSONValue.maximumDepth else { throw self.error("nested too deeply") }
    }

    private mutating func object() throws(JSONSyntaxError) -> JSONValue {
        try self.enter()
        self.position += 1
        var members: [String: JSONValue] = [:]
        self.skipWhitespace()
        if self.current == UInt8(ascii: "}") {
            self.position += 1
            self.depth -= 1
            return .object(members)
        }
        while true {
            self.skipWhitespace()
            guard self.current == UInt8(ascii: "\"") else { throw self.error("expected a member name") }
            let key = try self.string()
            self.skipWhitespace()
            try self.expect(UInt8(ascii: ":"), "':'")
            members[key] = try self.value()
            self.skipWhitespace()
            guard let byte = self.current else { throw self.error("unexpected end of input") }
            self.position += 1
            if byte == UInt8(ascii: "}") { break }
            guard byte == UInt8(ascii: ",") else {
                self.position -= 1
                throw self.error("expected ',' or '}'")
            }
        }
        self.depth -= 1
        return .object(members)
    }

    private mutating func array() throws(JSONSyntaxError) -> JSONValue {
        try self.enter()
        self.position += 1
        var values: [JSONValue] = []
        self.skipWhitespace()
        if self.current == UInt8(ascii: "]") {
            self.position += 1
            self.depth -= 1
            return .array(values)
        }
        while true {
            values.append(try self.value())
            self.skipWhitespace()
            guard let byte = self.current else { throw self.error("unexpected end of input") }
            self.position += 1
            if byte == UInt8(ascii: "]") { break }
            guard byte == UInt8(ascii: ",") else {
                self.position -= 1
                throw self.error("expected ',' or ']'")
            }
        }
        self.depth -= 1
        return .array(values)
    }

    private mutating func number() throws(JSONSyntaxError) -> Double {
        let start = self.position
        if self.current == UInt8(ascii: "-") { self.position += 1 }
        guard let first = self.current, Self.isDigit(first) else { throw self.error("invalid number") }
        self.position += 1
        if first != UInt8(ascii: "0") { self.skipDigits() }
        var integral = true
        if self.current == UInt8(ascii: ".") {
            integral = false
            self.position += 1
            guard let digit = self.current, Self.isDigit(digit) else { throw self.error("invalid number") }
            self.skipDigits()
        }
        if self.current == UInt8(ascii: "e") || self.current == UInt8(ascii: "E") {
            integral = false
            self.position += 1
            if self.current == UInt8(ascii: "+") || self.current == UInt8(ascii: "-") { self.position += 1 }
            guard let digit = self.current, Self.isDigit(digit) else { throw self.error("invalid number") }
            self.skipDigits()
        }
        let text = UnsafeBufferPointer(rebasing: self.bytes[start..<self.position])
        if integral, text.count <= 15 {
            var magnitude: Int64 = 0
            for byte in text where byte != UInt8(ascii: "-") { magnitude = magnitude * 10 + Int64(byte - 48) }
            return Double(text.first == UInt8(ascii: "-") ? -magnitude : magnitude)
        }
        guard let value = Double(String(decoding: text, as: UTF8.self)), value.isFinite else {
            self.position = start
            throw self.error("number out of range")
        }
        return value
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }

    private mutating func skipDigits() {
        while let byte = self.current, Self.isDigit(byte) { self.position += 1 }
    }

    /// A string, the opening quote at `position`; escapes decoded, unpaired surrogates replaced.
    private mutating func string() throws(JSONSyntaxError) -> String {
        self.position += 1
        let start = self.position
        // Fast path: no escapes.
        while let byte = self.current, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
            guard byte >= 0x20 else { throw self.error("control character in a string") }
            self.position += 1
        }
        guard let stop = self.current else { throw self.error("unterminated string") }
        if stop == UInt8(ascii: "\"") {
            let text = String(decoding: UnsafeBufferPointer(rebasing: self.bytes[start..<self.position]), as: UTF8.self)
            self.position += 1
            return text
        }
        var decoded = Array(UnsafeBufferPointer(rebasing: self.bytes[start..<self.position]))
        while true {
            guard let byte = self.current else { throw self.error("unterminated string") }
            self.position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: decoded, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try self.escape(into: &decoded)
            case 0..<0x20:
                self.position -= 1
                throw self.error("control character in a string")
            default:
                decoded.append(byte)
            }
        }
    }

    private mutating func escape(into decoded: inout [UInt8]) throws(JSONSyntaxError) {
        guard let byte = self.current else { throw self.error("unterminated string") }
        self.position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(byte)
        case UInt8(ascii: "b"): decoded.append(0x08)
        case UInt8(ascii: "f"): decoded.append(0x0C)
        case UInt8(ascii: "n"): decoded.append(0x0A)
        case UInt8(ascii: "r"): decoded.append(0x0D)
        case UInt8(ascii: "t"): decoded.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try self.hex4()
            if (0xD800..<0xDC00).contains(scalar), self.bytes.count - self.position >= 6,
                self.bytes[self.position] == UInt8(ascii: "\\"), self.bytes[self.position + 1] == UInt8(ascii: "u")
            {
                let mark = self.position
                self.position += 2
                let low = try self.hex4()
                if (0xDC00..<0xE000).contains(low) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    self.position = mark
                }
            }
            let character = Unicode.Scalar(scalar) ?? "\u{FFFD}"
            decoded.append(contentsOf: String(character).utf8)
        default:
            self.position -= 1
            throw self.error("invalid escape")
        }
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard self.bytes.count - self.position >= 4 else { throw self.error("invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = self.bytes[self.position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - 48
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - 87
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - 55
            default: throw self.error("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            self.position += 1
        }
        return value
    }
}
