import AWS
import Foundation

/// Why a login was refused. The reason goes to the log; the caller only hears "Permission denied",
/// so that a prober learns nothing about what the server checks.
struct LoginRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    var reason: String
    init(_ reason: String) { self.reason = reason }
    var description: String { self.reason }
}

/// One HTTP request carried in a bearer token, already checked, with the address it will
/// really be sent to.
struct ReplayedRequest: Sendable, Equatable {
    var method: String
    /// Where the server sends it: the configured endpoint with the token URL's path and query.
    var target: URL
    /// The `Host` header to send when it is not the target's: the host the client signed for
    /// (a global AWS host sent through a configured regional or VPC endpoint).
    var host: String? = nil
    var headers: [HTTPHeaderField]
    var body: String

    struct HTTPHeaderField: Sendable, Equatable {
        var name: String
        var value: String
    }

    /// The values of header `name` (case-insensitive).
    func values(of name: String) -> [String] {
        self.headers.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
    }
}

/// A Consul `aws-iam` bearer token, parsed and checked against the auth method's config before
/// anything is sent anywhere (internal/iamauth/token.go): POST only; the URL's host must be the
/// configured endpoint's (or, with none, an AWS STS/IAM host), so the server cannot be made to
/// send requests elsewhere; the body must be `Action=GetCallerIdentity` (and for the entity
/// `GetRole` with `RoleName` or `GetUser` with `UserName`) and nothing else; only the allowed
/// `X-Amz-*` headers; and the server ID header, when configured, present, equal and signed.
struct IAMBearerToken: Sendable, Equatable {
    var callerIdentity: ReplayedRequest
    /// The signed `GetRole`/`GetUser`, when the method wants entity details.
    var entity: ReplayedRequest?
    /// `GetRole` or `GetUser`.
    var entityAction: String?

    static let defaultAllowedSTSHeaders: Set<String> = [
        "x-amz-algorithm", "x-amz-content-sha256", "x-amz-credential", "x-amz-date", "x-amz-security-token",
        "x-amz-signature", "x-amz-signedheaders",
    ]

    init(_ text: String, config: AWSIAMMethodConfig) throws(LoginRefusal) {
        struct Wire: Decodable {
            var iam_http_request_method: String
            var iam_request_url: String
            var iam_request_headers: String
            var iam_request_body: String
        }
        guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(text.utf8)) else {
            throw LoginRefusal("invalid token: not the aws-iam bearer token JSON")
        }
        guard let urlData = Data(base64Encoded: wire.iam_request_url),
            let headerData = Data(base64Encoded: wire.iam_request_headers),
            let bodyData = Data(base64Encoded: wire.iam_request_body)
        else {
            throw LoginRefusal("invalid token: a field is not base64")
        }
        let headers = try Self.headers(fromJSON: headerData, field: "iam_request_headers")
        guard wire.iam_http_request_method == "POST" else {
            throw LoginRefusal("iam_http_request_method must be POST")
        }
        let body = String(decoding: bodyData, as: UTF8.self)
        let parsed = try Self.form(body, field: "iam_request_body")
        guard parsed["Action"] == "GetCallerIdentity", Set(parsed.keys).isSubset(of: ["Action", "Version"]) else {
            throw LoginRefusal("iam_request_body error: only Action=GetCallerIdentity (and Version) is allowed")
        }
        let allowed = Self.defaultAllowedSTSHeaders.union(config.allowedSTSHeaderValues.map { $0.lowercased() })
        for header in headers where header.name.lowercased().hasPrefix("x-amz-") {
            guard allowed.contains(header.name.lowercased()) else {
                throw LoginRefusal("invalid request header: \(header.name)")
            }
        }
        let sts = try Self.target(
            String(decoding: urlData, as: UTF8.self),
            endpoint: config.stsEndpoint,
            service: "sts"
        )
        self.callerIdentity = ReplayedRequest(
            method: "POST",
            target: sts.url,
            host: sts.host,
            headers: headers,
            body: body
        )
        if !config.serverIDHeaderValue.isEmpty {
            try Self.checkServerID(self.callerIdentity, expected: config.serverIDHeaderValue)
        }
        guard config.enableIAMEntityDetails else {
            self.entity = nil
            self.entityAction = nil
            return
        }
        func single(_ name: String) throws(LoginRefusal) -> String {
            let values = self.callerIdentity.values(of: name)
            guard values.count == 1 else { throw LoginRefusal("missing header \"\(name)\"") }
            return values[0]
        }
        let entityMethod = try single(IAMLoginBearerToken.entityMethodHeader)
        let entityURL = try single(IAMLoginBearerToken.entityURLHeader)
        let entityHeaders = try Self.headers(
            fromJSON: Data(try single(IAMLoginBearerToken.entityHeadersHeader).utf8),
            field: IAMLoginBearerToken.entityHeadersHeader
        )
        let entityBody = try single(IAMLoginBearerToken.entityBodyHeader)
        guard entityMethod == "POST" else { throw LoginRefusal("the entity request's method must be POST") }
        let form = try Self.form(entityBody, field: IAMLoginBearerToken.entityBodyHeader)
        let action: String
        switch (form["Action"], form["RoleName"], form["UserName"]) {
        case ("GetRole", _?, nil): action = "GetRole"
        case ("GetUser", nil, _?): action = "GetUser"
        default: throw LoginRefusal("invalid entity request body \(entityBody)")
        }
        guard Set(form.keys).isSubset(of: ["Action", "RoleName", "UserName", "Version"]) else {
            throw LoginRefusal("invalid entity request body \(entityBody)")
        }
        let iam = try Self.target(entityURL, endpoint: config.iamEndpoint, service: "iam")
        self.entity = ReplayedRequest(
            method: "POST",
            target: iam.url,
            host: iam.host,
            headers: entityHeaders,
            body: entityBody
        )
        self.entityAction = action
        if !config.serverIDHeaderValue.isEmpty, let entity = self.entity {
            try Self.checkServerID(entity, expected: config.serverIDHeaderValue)
        }
    }

    /// Go's `http.Header` JSON (`{"Name": ["value", …]}`) as a list; `Host` is dropped (the URL names the host).
    static func headers(fromJSON data: Data, field: String) throws(LoginRefusal) -> [ReplayedRequest.HTTPHeaderField] {
        guard let map = try? JSONDecoder().decode([String: [String]].self, from: data) else {
            throw LoginRefusal("\(field) is not a JSON map of header lists")
        }
        var headers: [ReplayedRequest.HTTPHeaderField] = []
        for (name, values) in map.sorted(by: { $0.key < $1.key }) {
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
                throw LoginRefusal("\(field): invalid header name \(name)")
            }
            guard !["host", "content-length", "connection", "transfer-encoding"].contains(name.lowercased()) else {
                continue
            }
            for value in values {
                guard !value.contains("\r"), !value.contains("\n") else {
                    throw LoginRefusal("\(field): invalid value of header \(name)")
                }
                headers.append(.init(name: name, value: value))
            }
        }
        return headers
    }

    /// A form body (`a=b&c=d`) with single values only; any key repeated or undecodable is refused.
    static func form(_ body: String, field: String) throws(LoginRefusal) -> [String: String] {
        var result: [String: String] = [:]
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = Self.decode(parts[0]), let value = Self.decode(parts.count > 1 ? parts[1] : "") else {
                throw LoginRefusal("\(field): undecodable form field")
            }
            guard result[key] == nil else { throw LoginRefusal("\(field): repeated field \(key)") }
            result[key] = value
        }
        return result
    }

    private static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// Where a token's request is sent, and the `Host` header to send when it differs from
    /// the target's.
    ///
    /// With an endpoint configured, the request goes there whatever host the token's URL
    /// names, with the URL's path and query and the signed host as `Host` (Consul's
    /// `buildHttpRequest`): a client that signed for `sts.amazonaws.com` logs in through a
    /// regional or VPC endpoint. Stricter than Consul, the URL must still name either the
    /// configured endpoint itself or one of AWS's documented hosts of `service`. Without an
    /// endpoint, the URL must be such an AWS host over HTTPS on port 443, and the request
    /// goes there.
    static func target(
        _ rawURL: String,
        endpoint: String,
        service: String
    ) throws(LoginRefusal) -> (url: URL, host: String?) {
        guard let url = URL(string: rawURL), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased(),
            !host.isEmpty
        else {
            throw LoginRefusal("invalid \(service) URL \(rawURL)")
        }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        let isAWSHost = scheme == "https" && port == 443 && Self.isAWSHost(host, service: service)
        guard !endpoint.isEmpty else {
            guard isAWSHost else { throw LoginRefusal("invalid \(service.uppercased()) hostname: \"\(host)\"") }
            return (url, nil)
        }
        guard let configured = URL(string: endpoint), let configuredHost = configured.host?.lowercased(),
            let configuredScheme = configured.scheme?.lowercased()
        else {
            throw LoginRefusal("the configured \(service) endpoint \(endpoint) is not a URL")
        }
        let configuredPort = configured.port ?? (configuredScheme == "https" ? 443 : 80)
        let isEndpoint = host == configuredHost && port == configuredPort
        guard isEndpoint || isAWSHost else {
            throw LoginRefusal("the \(service) request names host \(host):\(port), not the configured \(endpoint)")
        }
        let requestURI = (url.path.isEmpty ? "/" : url.path) + (url.query.map { "?\($0)" } ?? "")
        var base = endpoint
        while base.hasSuffix("/") { base.removeLast() }
        guard let target = URL(string: base + requestURI) else {
            throw LoginRefusal("invalid \(service) URL \(rawURL)")
        }
        return (target, isEndpoint ? nil : host)
    }

    /// Whether `host` is one of AWS's documented host names of `service` (`sts` or `iam`):
    /// `<service>[-fips][.<region>].amazonaws.com[.cn]`, where a region is lowercase words
    /// joined by hyphens (`us-east-1`, `us-gov-west-1`, `cn-north-1`). Nothing else under
    /// `amazonaws.com` (an S3 bucket host such as `sts.bucket.s3.amazonaws.com`) passes.
    static func isAWSHost(_ host: String, service: String) -> Bool {
        var labels = host.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if labels.last == "cn" { labels.removeLast() }
        guard labels.count >= 3, labels.suffix(2) == ["amazonaws", "com"] else { return false }
        labels.removeLast(2)
        guard labels[0] == service || labels[0] == "\(service)-fips" else { return false }
        switch labels.count {
        case 1: return true
        case 2: return Self.isRegion(labels[1])
        default: return false
        }
    }

    private static func isRegion(_ label: String) -> Bool {
        let parts = label.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].count == 2 else { return false }
        for (offset, part) in parts.enumerated() {
            guard !part.isEmpty else { return false }
            let isLast = offset == parts.count - 1
            let letters = part.allSatisfy { $0.isASCII && $0.isLowercase }
            let digits = part.allSatisfy { $0.isASCII && $0.isNumber }
            guard letters || (isLast && digits && offset >= 2) else { return false }
        }
        return true
    }

    /// The server ID header must carry the configured value and be covered by the signature.
    static func checkServerID(_ request: ReplayedRequest, expected: String) throws(LoginRefusal) {
        let provided = request.values(of: IAMLoginBearerToken.serverIDHeader).joined(separator: ",")
        guard !provided.isEmpty else {
            throw LoginRefusal("missing header \"\(IAMLoginBearerToken.serverIDHeader)\"")
        }
        guard provided == expected else {
            throw LoginRefusal("expected \"\(expected)\" but got \"\(provided)\"")
        }
        let authorization = request.values(of: "Authorization").joined(separator: ",")
        guard let range = authorization.range(of: "SignedHeaders=") else {
            throw LoginRefusal("missing Authorization header")
        }
        let signed = authorization[range.upperBound...].prefix { $0 != "," }.split(separator: ";")
        guard signed.contains(where: { $0 == IAMLoginBearerToken.serverIDHeader.lowercased() }) else {
            throw LoginRefusal("server id header wasn't signed")
        }
    }
}
