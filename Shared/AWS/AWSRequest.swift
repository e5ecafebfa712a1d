public import Foundation

/// An HTTP request to an AWS service, in exactly the form it will be sent, so that it can be signed.
///
/// The request is kept in wire form rather than as a `URL`: Signature Version 4 signs the path and query as they
/// travel, and `URL` would re-encode or normalise them behind the signer's back. `path` and `query` are therefore
/// the percent-encoded strings of the request line; the `Host` header carries the authority.
public struct AWSRequest: Sendable, Hashable {
    /// The HTTP method, e.g. `GET` or `POST`; signed as given (AWS methods are upper case).
    public var method: String
    /// The absolute path of the request line, percent-encoded as sent (e.g. `/` or `/2015-05-08/roles`).
    public var path: String
    /// The query string without the leading `?`, percent-encoded as sent; empty when there is none.
    public var query: String
    /// The header fields in order. Names compare case-insensitively; repeated names are signed as one field
    /// whose values are joined with `,` in the order they appear here.
    public var headers: [(name: String, value: String)]
    /// The payload; its SHA-256 is part of the signature, so it cannot change after signing.
    public var body: [UInt8]

    /// A request from its wire-form parts. Include a `Host` header: signing requires it.
    public init(
        method: String,
        path: String,
        query: String = "",
        headers: [(name: String, value: String)] = [],
        body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// A request to `url`: the path and query are taken percent-encoded from it and a `Host` header (with the port
    /// when the URL names one) is put first unless `headers` already has one. `nil` when the URL has no host.
    public init?(
        method: String,
        url: URL,
        headers: [(name: String, value: String)] = [],
        body: [UInt8] = []
    ) {
        guard let components = URLComponents(url: url, resolvingAgainstBaseURL: false),
            let host = components.percentEncodedHost, !host.isEmpty
        else {
            return nil
        }
        let authority = components.port.map { "\(host):\($0)" } ?? host
        let path = components.percentEncodedPath
        self.init(
            method: method,
            path: path.isEmpty ? "/" : path,
            query: components.percentEncodedQuery ?? "",
            headers: headers,
            body: body
        )
        if self.firstValue(forHeader: "host") == nil {
            self.headers.insert((name: "Host", value: authority), at: 0)
        }
    }

    /// The value of the first header named `name` (case-insensitively), if any.
    public func firstValue(forHeader name: String) -> String? {
        let wanted = name.lowercased()
        return self.headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// Replaces every header named `name` (case-insensitively) by one `name: value` field at the end.
    public mutating func setHeader(_ name: String, _ value: String) {
        self.removeHeader(name)
        self.headers.append((name: name, value: value))
    }

    /// Removes every header named `name`, compared case-insensitively.
    public mutating func removeHeader(_ name: String) {
        let unwanted = name.lowercased()
        self.headers.removeAll { $0.name.lowercased() == unwanted }
    }

    public static func == (lhs: AWSRequest, rhs: AWSRequest) -> Bool {
        lhs.method == rhs.method && lhs.path == rhs.path && lhs.query == rhs.query && lhs.body == rhs.body
            && lhs.headers.elementsEqual(rhs.headers) { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.method)
        hasher.combine(self.path)
        hasher.combine(self.query)
        for header in self.headers {
            hasher.combine(header.name)
            hasher.combine(header.value)
        }
        hasher.combine(self.body)
    }
}
