/// Go's duration syntax ("10s", "1m30s", "250ms", "1.5h"), which Consul uses everywhere a
/// duration appears in its API (check intervals and TTLs, `?wait=`).
public enum GoDuration {
    /// Parses a Go duration string; returns nil when it is not one.
    ///
    /// A bare "0" is accepted, as Go does. Negative durations are rejected: no Consul field takes one.
    public static func parse(_ text: String) -> Duration? {
        var rest = Substring(text.trimmingWhitespace())
        if rest == "0" { return .zero }
        if rest.isEmpty { return nil }
        if rest.first == "+" { rest = rest.dropFirst() }
        var totalNanoseconds: Double = 0
        var sawComponent = false
        while !rest.isEmpty {
            let numberEnd = rest.firstIndex { !($0.isNumber || $0 == ".") } ?? rest.endIndex
            guard numberEnd != rest.startIndex, let value = Double(rest[rest.startIndex..<numberEnd]) else {
                return nil
            }
            rest = rest[numberEnd...]
            let unitEnd = rest.firstIndex { $0.isNumber || $0 == "." } ?? rest.endIndex
            let unit = rest[rest.startIndex..<unitEnd]
            rest = rest[unitEnd...]
            guard let scale = Self.unitNanoseconds[String(unit)] else { return nil }
            totalNanoseconds += value * scale
            sawComponent = true
        }
        guard sawComponent, totalNanoseconds.isFinite, totalNanoseconds < 9.2e18 else { return nil }
        return .nanoseconds(Int64(totalNanoseconds.rounded()))
    }

    /// Formats a duration as Go's `time.Duration.String()` does ("1m30s", "500ms", "0s").
    public static func format(_ duration: Duration) -> String {
        let nanoseconds = duration.totalNanoseconds
        if nanoseconds == 0 { return "0s" }
        let negative = nanoseconds < 0
        let magnitude = nanoseconds.magnitude
        let sign = negative ? "-" : ""
        if magnitude < 1_000 { return "\(sign)\(magnitude)ns" }
        if magnitude < 1_000_000 { return sign + Self.fraction(magnitude, unit: 1_000) + "µs" }
        if magnitude < 1_000_000_000 { return sign + Self.fraction(magnitude, unit: 1_000_000) + "ms" }
        let hours = magnitude / 3_600_000_000_000
        let minutes = (magnitude / 60_000_000_000) % 60
        let seconds = Self.fraction(magnitude % 60_000_000_000, unit: 1_000_000_000)
        if hours > 0 { return "\(sign)\(hours)h\(minutes)m\(seconds)s" }
        if minutes > 0 { return "\(sign)\(minutes)m\(seconds)s" }
        return "\(sign)\(seconds)s"
    }

    private static func fraction(_ value: UInt64, unit: UInt64) -> String {
        let whole = value / unit
        var remainder = value % unit
        guard remainder != 0 else { return "\(whole)" }
        var digits = ""
        var scale = unit / 10
        while remainder != 0 && scale > 0 {
            digits.append(Character(String(remainder / scale)))
            remainder %= scale
            scale /= 10
        }
        return "\(whole).\(digits)"
    }

    private static let unitNanoseconds: [String: Double] = [
        "ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
        "m": 60_000_000_000, "h": 3_600_000_000_000,
    ]
}

extension Duration {
    /// The duration in whole nanoseconds (saturating).
    public var totalNanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }

    /// The duration in whole milliseconds (saturating).
    public var totalMilliseconds: Int64 { self.totalNanoseconds / 1_000_000 }
}

extension StringProtocol {
    /// The string without leading and trailing spaces, tabs and newlines.
    public func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = self.firstIndex(where: { !isSpace($0) }),
            let last = self.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(self[first...last])
    }
}
