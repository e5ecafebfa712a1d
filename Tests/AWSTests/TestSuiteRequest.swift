import AWS

/// Parses the raw HTTP request text of an aws-sig-v4-test-suite `.req` file into an `AWSRequest`.
///
/// The files are not strictly valid HTTP (a request line may contain a literal space or raw UTF-8, lines end in
/// `\n`), so this is a tolerant, test-only reader: the target is everything between the first space and the last
/// space of the request line, folded header lines (starting with whitespace) are appended to the previous value
/// after a space, and the body is whatever follows the first empty line.
enum TestSuiteRequest {
    static func parse(_ text: String) -> AWSRequest? {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard !lines.isEmpty else {
            return nil
        }
        let requestLine = lines.removeFirst()
        guard let firstSpace = requestLine.firstIndex(of: " "),
            let lastSpace = requestLine.lastIndex(of: " "), firstSpace < lastSpace
        else {
            return nil
        }
        let method = String(requestLine[..<firstSpace])
        let target = requestLine[requestLine.index(after: firstSpace)..<lastSpace]
        let path: String
        let query: String
        if let questionMark = target.firstIndex(of: "?") {
            path = String(target[..<questionMark])
            query = String(target[target.index(after: questionMark)...])
        } else {
            path = String(target)
            query = ""
        }

        var headers: [(name: String, value: String)] = []
        var bodyLines: [String] = []
        var inBody = false
        for line in lines {
            if inBody {
                bodyLines.append(line)
            } else if line.isEmpty {
                inBody = true
            } else if line.first == " " || line.first == "\t", let last = headers.indices.last {
                headers[last].value += " " + line
            } else if let colon = line.firstIndex(of: ":") {
                headers.append(
                    (name: String(line[..<colon]), value: String(line[line.index(after: colon)...]))
                )
            } else {
                return nil
            }
        }
        return AWSRequest(
            method: method,
            path: path,
            query: query,
            headers: headers,
            body: Array(bodyLines.joined(separator: "\n").utf8)
        )
    }
}
