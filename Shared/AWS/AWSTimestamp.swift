import Foundation

/// Parsing of the ISO 8601 timestamps AWS returns (`2026-01-01T00:00:00Z`, with or without fractional seconds).
enum AWSTimestamp {
    static func parse(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) {
            return date
        }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
