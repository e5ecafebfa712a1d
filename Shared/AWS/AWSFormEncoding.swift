/// `application/x-www-form-urlencoded` bodies for the AWS Query protocol (STS, IAM).
enum AWSFormEncoding {
    /// `name=value&…` with RFC 3986 percent-encoding (only unreserved characters left as is), as SigV4 expects.
    static func encode(_ parameters: [(String, String)]) -> String {
        parameters.map { "\(self.escape($0.0))=\(self.escape($0.1))" }.joined(separator: "&")
    }

    static func escape(_ value: String) -> String {
        var output = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                output += "%"
                output.unicodeScalars.append(Unicode.Scalar(Hex.upperDigits[Int(byte >> 4)]))
                output.unicodeScalars.append(Unicode.Scalar(Hex.upperDigits[Int(byte & 0x0F)]))
            }
        }
        return output
    }
}
