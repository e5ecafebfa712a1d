import Foundation
import MeshCore
import MeshTesting
import Testing

@Suite("JSON text: parsing and writing JSONValue")
struct JSONValueTextTests {
    private func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        try JSONValue(parsing: Array(text.utf8))
    }

    /// What Foundation's decoder makes of the same text (the behaviour we replaced).
    private func foundation(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    @Test(
        "parses what Foundation's decoder parses, to the same value",
        arguments: [
            #"{"Node":"n1","Address":"10.0.0.1","Service":{"ID":"web-1","Port":8080,"Tags":["a","b"]}}"#,
            #"[1, -2, 3.25, -0.5e-3, 1E+2, 0, -0, 123456789012345678]"#,
            #"{"t":true,"f":false,"n":null,"s":"","e":{},"a":[]}"#,
            #"  {"nested": [[[{"deep": [1, {"x": "y"}]}]]]}  "#,
            #""just a string""#,
            #"{"esc":"quote \" backslash \\ slash \/ tab \t nl \n cr \r bs \b ff \f"}"#,
            #"{"unicode":"caf\u00e9 \u4e2d \ud83d\ude00 plain é 中 😀"}"#,
            "42",
            "\t\n null \r\n",
        ]
    )
    func matchesFoundation(text: String) throws {
        #expect(try self.parse(text) == self.foundation(text))
    }

    @Test(
        "refuses malformed text with the offset of the problem",
        arguments: [
            ("", 0), ("{", 1), ("{\"a\" 1}", 5), ("{a:1}", 1),
            ("[1 2]", 3), ("01", 1), ("1.", 2), ("-", 1), ("1e", 2), (".5", 0), ("+1", 0),
            ("\"unterminated", 13), ("\"tab\there\"", 4), ("\"bad \\q escape\"", 6), ("\"\\u12\"", 3),
            ("tru", 0), ("nul", 0), ("{} {}", 3), ("1e999", 0), ("[\"a\"]x", 5),
        ]
    )
    func refusesMalformed(text: String, offset: Int) {
        #expect(throws: JSONSyntaxError.self) { try self.parse(text) }
        do {
            _ = try self.parse(text)
        } catch {
            #expect(error.offset == offset, "\(text): \(error)")
        }
        #expect(throws: (any Error).self, "Foundation refuses it too") { try self.foundation(text) }
    }

    @Test("trailing commas are refused, as Consul's Go decoder refuses them (Foundation's accepts them)")
    func trailingCommas() {
        #expect(throws: JSONSyntaxError(offset: 3, reason: "unexpected character")) { try self.parse("[1,]") }
        #expect(throws: JSONSyntaxError(offset: 7, reason: "expected a member name")) { try self.parse(#"{"a":1,}"#) }
    }

    @Test("nesting is limited, so hostile input cannot exhaust the stack")
    func depthLimit() throws {
        let fine =
            String(repeating: "[", count: JSONValue.maximumDepth)
            + String(repeating: "]", count: JSONValue.maximumDepth)
        _ = try self.parse(fine)
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONSyntaxError.self) { try self.parse(deep) }
        let objects =
            String(repeating: "{\"a\":", count: JSONValue.maximumDepth + 1) + "1"
            + String(repeating: "}", count: JSONValue.maximumDepth + 1)
        #expect(throws: JSONSyntaxError.self) { try self.parse(objects) }
    }

    @Test("an unpaired surrogate escape becomes U+FFFD, the rest of the string stays")
    func unpairedSurrogate() throws {
        #expect(try self.parse(#""a\ud800b""#) == .string("a\u{FFFD}b"))
        #expect(try self.parse(#""\ud800\u0041""#) == .string("\u{FFFD}A"))
    }

    @Test("the last of duplicate member names wins")
    func duplicateNames() throws {
        #expect(try self.parse(#"{"a":1,"a":2}"#) == .object(["a": .number(2)]))
    }

    @Test("writes text that parses back to the same value, keys sorted, integers without a fraction")
    func writes() throws {
        let value: JSONValue = .object([
            "b": .array([.number(1), .number(-2.5), .number(1e20), .null, .bool(true), .bool(false)]),
            "a": .string("q\" \\ / \n\r\t\u{08}\u{0C}\u{01}\u{1F} é 😀"),
            "c": .object([:]),
            "d": .array([]),
        ])
        let text = String(decoding: value.serialized(), as: UTF8.self)
        #expect(text.hasPrefix(#"{"a":"q\" \\ / \n\r\t\b\f\u0001\u001f é 😀","b":[1,-2.5,1e+20,null,true,false]"#))
        #expect(text.hasSuffix(#","c":{},"d":[]}"#))
        #expect(try self.parse(text) == value)
        #expect(try self.foundation(text) == value, "Foundation reads our output")
    }

    @Test("output matches Foundation's encoder but for key order")
    func matchesFoundationEncoder() throws {
        let value = try self.parse(
            #"{"Node":{"Node":"n","Meta":{"k":"v/w"}},"Checks":[{"Status":"passing","Output":"ok\n"}],"Port":8080}"#
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        #expect(value.serialized() == Array(try encoder.encode(value)))
    }

    @Test("mutated documents never crash the parser, and what it accepts it writes back as text both parsers agree on")
    func mutations() {
        let seeds = [
            #"{"Node":"n1","Address":"10.0.0.1","Service":{"ID":"web-1","Port":8080,"Tags":["a","b"],"Meta":{}}}"#,
            #"[1,-2,3.25,-0.5e-3,1E+2,0,true,false,null,"s\n\u00e9"]"#,
            #"{"Checks":[{"CheckID":"c","Status":"passing","Definition":{"TTL":"30s"}}]}"#,
        ]
        // ASCII only (so both parsers see valid UTF-8), no 'u'/'d' (so no surrogate escapes appear).
        let alphabet = Array(#"{}[]",:0123456789-+.eE tfnrl\ "#.utf8)
        var random = SeededGenerator(seed: 0x6d65_7368)
        var accepted = 0
        for _ in 0..<4_000 {
            var bytes = Array(seeds[Int(random.next() % UInt64(seeds.count))].utf8)
            for _ in 0...(random.next() % 3) {
                let position = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 3 {
                case 0: bytes[position] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                case 1: bytes.remove(at: position)
                default: bytes.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: position)
                }
                if bytes.isEmpty { bytes = [UInt8(ascii: "0")] }
            }
            guard let value = try? JSONValue(parsing: bytes) else { continue }
            accepted += 1
            // What we accept we write back as text both parsers read to the same value.
            let text = value.serialized()
            let again = try? JSONValue(parsing: text)
            let foundation = try? JSONDecoder().decode(JSONValue.self, from: Data(text))
            #expect(again == value && foundation == value, "\(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(accepted > 0, "some mutations stay valid JSON")
    }
}
