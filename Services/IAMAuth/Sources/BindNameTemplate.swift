import Foundation

/// A binding rule's `BindName`: text with `${variable}` references (HashiCorp's HIL
/// interpolation, variables only), filled from the login's projected variables.
///
/// Variables are the auth method's: `entity_name`, `entity_id`, `account_id`, and with entity
/// details `entity_path` and `entity_tags.<tag>` for each tag in `IAMEntityTags`.
struct BindNameTemplate: Sendable, Equatable {
    enum Part: Sendable, Equatable {
        case text(String)
        case variable(String)
    }

    struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        var reason: String
        var description: String { self.reason }
    }

    let parts: [Part]

    /// Parses `text`; every variable must be one of `variables`.
    init(_ text: String, variables: Set<String>) throws(ParseError) {
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            if open.lowerBound > rest.startIndex {
                parts.append(.text(String(rest[..<open.lowerBound])))
            }
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                throw ParseError(reason: "unterminated ${ in \(text)")
            }
            let name = rest[open.upperBound..<close].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { throw ParseError(reason: "empty ${} in \(text)") }
            guard variables.contains(name) else {
                throw ParseError(
                    reason: "unknown variable \(name); known: \(variables.sorted().joined(separator: ", "))"
                )
            }
            parts.append(.variable(name))
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty {
            parts.append(.text(String(rest)))
        }
        self.parts = parts
    }

    /// The name with each variable replaced by its value (missing ones by "").
    func render(_ values: [String: String]) -> String {
        self.parts.map { part in
            switch part {
            case .text(let text): text
            case .variable(let name): values[name] ?? ""
            }
        }.joined()
    }

    /// Whether the template has any variable at all.
    var isTemplated: Bool {
        self.parts.contains { if case .variable = $0 { true } else { false } }
    }
}
