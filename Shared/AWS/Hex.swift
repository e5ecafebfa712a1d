/// Hexadecimal helpers shared by percent-encoding and digest formatting.
enum Hex {
    /// `0-9A-F` as ASCII bytes, for percent-encoding.
    static let upperDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// `0-9a-f` as ASCII bytes, for digests.
    static let lowerDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lowercase hex of `bytes`, the form AWS uses for hashes and signatures.
    static func lowercase(_ bytes: some Sequence<UInt8>) -> String {
        var encoded: [UInt8] = []
        for byte in bytes {
            encoded.append(self.lowerDigits[Int(byte >> 4)])
            encoded.append(self.lowerDigits[Int(byte & 0x0F)])
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    /// The value of one ASCII hex digit (either case), or `nil`.
    static func value(of byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
