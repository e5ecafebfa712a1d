import Foundation

/// Just enough XML reading for AWS Query-protocol responses: the text of named elements.
///
/// AWS Query responses are small, namespace-free where it matters and free of CDATA, so element text can be found
/// by tag name without a full parser (Foundation's `XMLParser` lives in a separate module on Linux).
enum MiniXML {
    /// The inner XML of the first `<name>…</name>` in `xml`, or `nil`.
    static func first(_ name: String, in xml: Substring) -> Substring? {
        self.all(name, in: xml, limit: 1).first
    }

    /// The inner XML of every `<name>…</name>` in `xml` (not nested in one another), up to `limit`.
    static func all(_ name: String, in xml: Substring, limit: Int = .max) -> [Substring] {
        var results: [Substring] = []
        var rest = xml
        let close = "</\(name)>"
        while results.count < limit, let open = self.openTag(name, in: rest) {
            if open.selfClosing {
                results.append(rest[open.end..<open.end])
                rest = rest[open.end...]
                continue
            }
            guard let end = rest[open.end...].range(of: close) else {
                break
            }
            results.append(rest[open.end..<end.lowerBound])
            rest = rest[end.upperBound...]
        }
        return results
    }

    /// The decoded text of the first `<name>` element.
    static func text(_ name: String, in xml: Substring) -> String? {
        self.first(name, in: xml).map { self.decodeEntities(String($0)) }
    }

    private static func openTag(
        _ name: String,
        in xml: Substring
    ) -> (end: Substring.Index, selfClosing: Bool)? {
        var rest = xml
        while let start = rest.range(of: "<\(name)") {
            let after = start.upperBound
            guard after < rest.endIndex else {
                return nil
            }
            let next = rest[after]
            if next == ">" {
                return (rest.index(after: after), false)
            }
            if next == " " || next == "/" || next == "\t" || next == "\n" {
                guard let gt = rest[after...].firstIndex(of: ">") else {
                    return nil
                }
                let selfClosing = rest[rest.index(before: gt)] == "/"
                return (rest.index(after: gt), selfClosing)
            }
            rest = rest[after...]
        }
        return nil
    }

    /// Replaces the five predefined entities and numeric character references.
    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else {
            return text
        }
        var output = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            output += rest[..<amp]
            guard let semicolon = rest[amp...].firstIndex(of: ";") else {
                break
            }
            let entity = rest[rest.index(after: amp)..<semicolon]
            switch entity {
            case "amp": output += "&"
            case "lt": output += "<"
            case "gt": output += ">"
            case "quot": output += "\""
            case "apos": output += "'"
            default:
                let scalar: Unicode.Scalar?
                if entity.hasPrefix("#x") {
                    scalar = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init)
                } else if entity.hasPrefix("#") {
                    scalar = UInt32(entity.dropFirst()).flatMap(Unicode.Scalar.init)
                } else {
                    scalar = nil
                }
                if let scalar {
                    output.unicodeScalars.append(scalar)
                } else {
                    output += rest[amp...semicolon]
                }
            }
            rest = rest[rest.index(after: semicolon)...]
        }
        output += rest
        return output
    }
}
