/// The pieces of Signature Version 4's canonical request (Task 1), for services other than S3.
///
/// Each function is a pure string transformation following the AWS documentation and the published test suite.
enum SigV4Canonicalization {
    /// The canonical URI: the path with `.`/`..` segments resolved and empty segments dropped (keeping a trailing
    /// `/` only when the path ends in one, as botocore does), then every byte outside the RFC 3986 unreserved set
    /// percent-encoded. `path` is the wire form, so an escape already in it is encoded again (`%20` becomes
    /// `%2520`): non-S3 services expect that double encoding.
    static func canonicalURI(path: String) -> String {
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".":
                continue
            case "..":
                _ = segments.popLast()
            default:
                segments.append(segment)
            }
        }
        var uri = "/" + segments.map { self.percentEncode(String($0)) }.joined(separator: "/")
        if !segments.isEmpty, path.hasSuffix("/") {
            uri += "/"
        }
        return uri
    }

    /// The canonical query string: each `name=value` pair percent-decoded, then re-encoded with the unreserved
    /// set, and sorted by encoded name and then encoded value. A pair without `=` gets an empty value; empty pairs
    /// (`a=1&&b=2`) are dropped. `+` is taken literally (AWS never treats it as a space), so it becomes `%2B`.
    static func canonicalQuery(_ query: String) -> String {
        var pairs: [(name: String, value: String)] = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let name: Substring
            let value: Substring
            if let equals = pair.firstIndex(of: "=") {
                name = pair[..<equals]
                value = pair[pair.index(after: equals)...]
            } else {
                name = pair
                value = ""
            }
            pairs.append(
                (
                    name: self.percentEncode(self.percentDecode(name)),
                    value: self.percentEncode(self.percentDecode(value))
                )
            )
        }
        pairs.sort { lhs, rhs in
            lhs.name != rhs.name
                ? lhs.name.utf8.lexicographicallyPrecedes(rhs.name.utf8)
                : lhs.value.utf8.lexicographicallyPrecedes(rhs.value.utf8)
        }
        return pairs.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    /// The canonical headers block (one `name:value\n` line per distinct name) and the signed-headers list.
    ///
    /// Names are lowercased; values have leading/trailing whitespace trimmed and inner runs of whitespace collapsed
    /// to one space; repeated names become one line with their values joined by `,` in request order; lines are
    /// sorted by name.
    static func canonicalHeaders(
        _ headers: [(name: String, value: String)]
    ) -> (canonical: String, signed: String) {
        var valuesByName: [String: [String]] = [:]
        for header in headers {
            valuesByName[header.name.lowercased(), default: []].append(self.normalizeHeaderValue(header.value))
        }
        let names = valuesByName.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var canonical = ""
        for name in names {
            canonical += "\(name):\(valuesByName[name, default: []].joined(separator: ","))\n"
        }
        return (canonical: canonical, signed: names.joined(separator: ";"))
    }

    /// Trims the value and collapses every run of spaces, tabs and line breaks into a single space.
    static func normalizeHeaderValue(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" })
            .joined(separator: " ")
    }

    /// Percent-encodes every UTF-8 byte outside RFC 3986's unreserved set (`A-Z a-z 0-9 - . _ ~`), with upper-case
    /// hex digits, as Signature Version 4 requires.
    static func percentEncode(_ string: String) -> String {
        var encoded: [UInt8] = []
        encoded.reserveCapacity(string.utf8.count)
        for byte in string.utf8 {
            if self.isUnreserved(byte) {
                encoded.append(byte)
            } else {
                encoded.append(UInt8(ascii: "%"))
                encoded.append(Hex.upperDigits[Int(byte >> 4)])
                encoded.append(Hex.upperDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    /// Replaces each `%XX` escape by its byte; a `%` not followed by two hex digits is kept as is. Invalid UTF-8
    /// in the result is repaired, which only matters for requests AWS would reject anyway.
    static func percentDecode(_ string: Substring) -> String {
        let bytes = Array(string.utf8)
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = Hex.value(of: bytes[index + 1]), let low = Hex.value(of: bytes[index + 2])
            {
                decoded.append(high << 4 | low)
                index += 3
            } else {
                decoded.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: decoded, as: UTF8.self)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
