#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A coding key for any field name: Consul's JSON is read by name, not through a fixed key enum.
struct IntentionJSONKey: CodingKey, Hashable {
    var stringValue: String
    var intValue: Int? { nil }

    init(_ name: String) {
        self.stringValue = name
    }

    init?(stringValue: String) {
        self.stringValue = stringValue
    }

    init?(intValue: Int) {
        nil
    }
}

/// Reads a JSON object as Go's `encoding/json` does for a Consul request body (`lib.DecodeJSON`):
/// every field is optional, `null` reads as absent, a key matches its field exactly or else
/// case-insensitively, and a key that no field claims is an error (`DisallowUnknownFields`).
struct IntentionJSONReader {
    private let container: KeyedDecodingContainer<IntentionJSONKey>
    private let present: [String: IntentionJSONKey]

    init(_ decoder: any Decoder, fields: [String]) throws {
        self.container = try decoder.container(keyedBy: IntentionJSONKey.self)
        let known = Set(fields.map { $0.lowercased() })
        var present: [String: IntentionJSONKey] = [:]
        for key in self.container.allKeys {
            guard known.contains(key.stringValue.lowercased()) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key,
                    in: self.container,
                    debugDescription: "json: unknown field \"\(key.stringValue)\""
                )
            }
            present[key.stringValue] = key
        }
        self.present = present
    }

    /// The value of `field`, or `nil` when it is absent or `null`.
    func read<T: Decodable>(_ type: T.Type, _ field: String) throws -> T? {
        if let key = self.present[field] {
            return try self.container.decodeIfPresent(type, forKey: key)
        }
        let folded = field.lowercased()
        guard let key = self.present.values.first(where: { $0.stringValue.lowercased() == folded }) else {
            return nil
        }
        return try self.container.decodeIfPresent(type, forKey: key)
    }
}

/// Writes a JSON object with Go's `omitempty`: empty strings, `false`, empty collections and `nil`
/// are left out by the `omitting` calls, and written by the others.
struct IntentionJSONWriter {
    var container: KeyedEncodingContainer<IntentionJSONKey>

    init(_ encoder: any Encoder) {
        self.container = encoder.container(keyedBy: IntentionJSONKey.self)
    }

    mutating func write<T: Encodable>(_ value: T, _ field: String) throws {
        try self.container.encode(value, forKey: IntentionJSONKey(field))
    }

    mutating func omitting(_ value: String, _ field: String) throws {
        if !value.isEmpty { try self.write(value, field) }
    }

    mutating func omitting(_ value: Bool, _ field: String) throws {
        if value { try self.write(value, field) }
    }

    mutating func omitting<T: Encodable>(_ value: [T], _ field: String) throws {
        if !value.isEmpty { try self.write(value, field) }
    }

    mutating func omitting(_ value: [String: String], _ field: String) throws {
        if !value.isEmpty { try self.write(value, field) }
    }

    mutating func omitting<T: Encodable>(_ value: T?, _ field: String) throws {
        if let value { try self.write(value, field) }
    }
}

/// Go's `time.Time` JSON form, RFC 3339 with optional fraction (`RFC3339Nano`).
enum GoTimeText {
    /// Formats in UTC with the fraction Go would print: trailing zeros trimmed, none when whole.
    /// `Date` holds about a microsecond at today's epoch, so at most six digits are written.
    static func format(_ date: Date) -> String {
        let total = date.timeIntervalSince1970
        var seconds = total.rounded(.down)
        var micros = Int(((total - seconds) * 1_000_000).rounded())
        if micros >= 1_000_000 {
            seconds += 1
            micros -= 1_000_000
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second],
            from: Date(timeIntervalSince1970: seconds)
        )
        func pad(_ value: Int?, _ width: Int) -> String {
            let text = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        var text = "\(pad(parts.year, 4))-\(pad(parts.month, 2))-\(pad(parts.day, 2))"
        text += "T\(pad(parts.hour, 2)):\(pad(parts.minute, 2)):\(pad(parts.second, 2))"
        if micros > 0 {
            var fraction = pad(micros, 6)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return text + "Z"
    }

    /// Parses RFC 3339 (`2021-01-05T18:39:40.416234Z`, `...+02:00`); `nil` when malformed or when it
    /// is Go's zero time (`0001-01-01T00:00:00Z`), which Consul's clients send for "unset".
    static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20 else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                guard index < bytes.count, (48...57).contains(bytes[index]) else { return nil }
                value = value * 10 + Int(bytes[index] - 48)
            }
            return value
        }
        guard let year = number(0..<4), bytes[4] == 45, let month = number(5..<7), bytes[7] == 45,
            let day = number(8..<10), bytes[10] == 84 || bytes[10] == 116,
            let hour = number(11..<13), bytes[13] == 58, let minute = number(14..<16), bytes[16] == 58,
            let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        var index = 19
        var fraction = 0.0
        if bytes[index] == 46 {
            index += 1
            var scale = 0.1
            let start = index
            while index < bytes.count, (48...57).contains(bytes[index]) {
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        guard index < bytes.count else { return nil }
        var offset = 0
        switch bytes[index] {
        case 90, 122:
            guard index + 1 == bytes.count else { return nil }
        case 43, 45:
            guard index + 6 == bytes.count, let hours = number(index + 1..<index + 3), bytes[index + 3] == 58,
                let minutes = number(index + 4..<index + 6), hours < 24, minutes < 60
            else { return nil }
            offset = (hours * 3600 + minutes * 60) * (bytes[index] == 45 ? -1 : 1)
        default:
            return nil
        }
        if year == 1, month == 1, day == 1, hour == 0, minute == 0, second == 0, fraction == 0, offset == 0 {
            return nil
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard let base = calendar.date(from: components), calendar.component(.day, from: base) == day else {
            return nil
        }
        return base.addingTimeInterval(fraction - Double(offset))
    }
}
