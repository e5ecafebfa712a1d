/// The sections of an AWS shared credentials or config file (INI), by profile name.
///
/// Follows the SDKs' reading: `[name]` and `[profile name]` both open profile `name`; `#` and `;` start comments
/// (at the start of a line, or after whitespace in a value); keys are trimmed and compared case-insensitively;
/// indented lines continue the previous value and properties before the first section are ignored.
struct AWSProfileFile: Sendable, Hashable {
    /// Profile name → lowercased key → value.
    var profiles: [String: [String: String]]

    init(parsing text: String) {
        var profiles: [String: [String: String]] = [:]
        var current: String?
        var lastKey: String?
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = String(rawLine)
            let trimmed = line.trimmingWhitespace()
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") {
                continue
            }
            if trimmed.hasPrefix("[") {
                guard let close = trimmed.firstIndex(of: "]") else {
                    current = nil
                    continue
                }
                var name = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close]).trimmingWhitespace()
                if name.hasPrefix("profile ") {
                    name = String(name.dropFirst("profile ".count)).trimmingWhitespace()
                }
                current = name
                lastKey = nil
                if profiles[name] == nil {
                    profiles[name] = [:]
                }
                continue
            }
            guard let profile = current else {
                continue
            }
            if line.first == " " || line.first == "\t", let key = lastKey {
                profiles[profile, default: [:]][key, default: ""] += "\n" + trimmed
                continue
            }
            guard let equals = trimmed.firstIndex(of: "=") else {
                continue
            }
            let key = String(trimmed[..<equals]).trimmingWhitespace().lowercased()
            let value = Self.stripInlineComment(String(trimmed[trimmed.index(after: equals)...])).trimmingWhitespace()
            profiles[profile, default: [:]][key] = value
            lastKey = key
        }
        self.profiles = profiles
    }

    /// Drops a ` #…` or ` ;…` tail: a comment marker only counts after whitespace, since secrets may contain `#`.
    private static func stripInlineComment(_ value: String) -> String {
        var previous: Character = " "
        var seenValue = false
        for index in value.indices {
            let character = value[index]
            if seenValue, character == "#" || character == ";", previous == " " || previous == "\t" {
                return String(value[..<index])
            }
            if character != " " && character != "\t" {
                seenValue = true
            }
            previous = character
        }
        return value
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and line breaks.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0.isNewline }
        guard let first = self.firstIndex(where: { !isSpace($0) }),
            let last = self.lastIndex(where: { !isSpace($0) })
        else {
            return ""
        }
        return String(self[first...last])
    }
}
