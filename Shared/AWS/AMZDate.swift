import Foundation

/// A signing timestamp in the two UTC forms Signature Version 4 uses.
struct AMZDate: Sendable, Hashable {
    /// `yyyyMMdd'T'HHmmss'Z'`, for `X-Amz-Date` and the string to sign.
    let dateTime: String
    /// `yyyyMMdd`, for the credential scope and key derivation.
    let date: String

    /// Formats `instant` in UTC with the Gregorian calendar, whatever the process's locale and time zone.
    init(_ instant: Date) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? TimeZone(secondsFromGMT: 0) ?? calendar.timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: instant)
        func pad(_ value: Int?, _ width: Int) -> String {
            let digits = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        self.date = pad(parts.year, 4) + pad(parts.month, 2) + pad(parts.day, 2)
        self.dateTime = self.date + "T" + pad(parts.hour, 2) + pad(parts.minute, 2) + pad(parts.second, 2) + "Z"
    }
}
