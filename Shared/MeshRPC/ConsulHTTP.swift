import Foundation
public import HTTPTypes
public import Hummingbird
public import MeshCore
import NIOCore

/// An error answered the way Consul answers: a status and a plain-text message.
public struct ConsulHTTPError: HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String

    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    /// 400 for a field that cannot be accepted, naming it.
    public static func invalid(_ error: ValidationError) -> ConsulHTTPError {
        ConsulHTTPError(.badRequest, "Invalid request: \(error.field): \(error.reason)")
    }

    public var description: String { "\(self.status.code) \(self.message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(
            status: self.status,
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(string: self.message))
        )
    }
}

/// Consul's response conventions: JSON bodies and the `X-Consul-*` metadata headers.
public enum ConsulHTTP {
    /// The Consul version the API follows (`/v1/agent/self`, for tools that check it).
    public static let consulVersion = "1.20.0"

    /// The largest request body accepted (Consul's own limit for KV values is 512 KiB; catalog
    /// registrations are far smaller).
    public static let maximumBodySize = 1 << 20

    public static let indexHeader = HTTPField.Name("X-Consul-Index")!
    public static let knownLeaderHeader = HTTPField.Name("X-Consul-KnownLeader")!
    public static let lastContactHeader = HTTPField.Name("X-Consul-LastContact")!
    public static let consistencyHeader = HTTPField.Name("X-Consul-Effective-Consistency")!
    public static let tokenHeader = HTTPField.Name("X-Consul-Token")!
    /// Set (to `true`) when ACLs left something out of a read.
    public static let filteredByACLsHeader = HTTPField.Name("X-Consul-Results-Filtered-By-ACLs")!

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    /// A JSON response (status 200 unless told).
    public static func json(
        _ value: some Encodable,
        status: HTTPResponse.Status = .ok,
        headers: HTTPFields = [:]
    ) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        let body =
            if let value = value as? JSONValue {
                ByteBuffer(bytes: value.serialized())
            } else {
                ByteBuffer(bytes: try Self.encoder.encode(value))
            }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body))
    }

    /// A JSON response carrying the blocking-query headers for `index`.
    public static func indexed(
        _ value: some Encodable,
        index: ModifyIndex,
        consistency: String = "leader"
    ) throws
        -> Response
    {
        var headers = Self.indexHeaders(index)
        headers[Self.consistencyHeader] = consistency
        return try Self.json(value, headers: headers)
    }

    /// The blocking-query headers for `index` (for answers that are not JSON: a raw value, a 404).
    public static func indexHeaders(_ index: ModifyIndex) -> HTTPFields {
        var headers = HTTPFields()
        headers[Self.indexHeader] = "\(max(index, 1))"
        headers[Self.knownLeaderHeader] = "true"
        headers[Self.lastContactHeader] = "0"
        return headers
    }

    /// An empty 200 response, as Consul's agent endpoints give.
    public static func empty() -> Response {
        Response(status: .ok)
    }

    /// A path parameter, percent-decoded; 400 with `missing` when it is empty.
    public static func pathParameter(_ name: String, _ context: BasicRequestContext, missing: String) throws -> String {
        guard let value = context.parameters.get(name), !value.isEmpty else {
            throw ConsulHTTPError(.badRequest, missing)
        }
        return value.removingPercentEncoding ?? value
    }

    /// The request body as a case-insensitive object; a malformed one is 400
    /// `<prefix> decoding failed: …` (Consul's wording), past the size limit 413.
    public static func lenientBody(of request: Request, prefix: String) async throws -> LenientObject {
        let value = try await Self.jsonBody(of: request)
        do {
            return try LenientObject(value)
        } catch {
            throw ConsulHTTPError(.badRequest, "\(prefix) decoding failed: \(error)")
        }
    }

    /// Reads the body as JSON: 413 past the limit, 400 with the parser's reason when malformed.
    public static func jsonBody(of request: Request, limit: Int = ConsulHTTP.maximumBodySize) async throws -> JSONValue
    {
        guard let value = try await Self.optionalJSONBody(of: request, limit: limit) else {
            throw ConsulHTTPError(.badRequest, "Request decode failed: empty body")
        }
        return value
    }

    /// As `jsonBody`, but an empty body is nil (endpoints whose every field has a default).
    public static func optionalJSONBody(
        of request: Request,
        limit: Int = ConsulHTTP.maximumBodySize
    ) async throws -> JSONValue? {
        let buffer = try await Self.body(of: request, limit: limit) {
            "Request body too large: the limit is \(limit) bytes"
        }
        guard buffer.readableBytes > 0 else { return nil }
        let value: JSONValue
        do {
            value = try JSONValue(parsing: buffer.readableBytesView)
        } catch {
            throw ConsulHTTPError(.badRequest, "Request decode failed: \(error)")
        }
        // PostgreSQL's text cannot hold U+0000: refused here rather than failing in the store.
        guard !value.containsNUL else {
            throw ConsulHTTPError(.badRequest, "Request decode failed: strings may not contain U+0000")
        }
        return value
    }

    /// The whole body; past `limit` bytes, 413 with `message`.
    public static func body(
        of request: Request,
        limit: Int,
        tooLarge message: () -> String
    ) async throws -> ByteBuffer {
        var request = request
        do {
            return try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw ConsulHTTPError(.contentTooLarge, message())
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw ConsulHTTPError(.contentTooLarge, message())
        }
    }

    /// A query parameter decoded as Go's `url.ParseQuery` does (form encoding: `+` is a space,
    /// then percent-escapes), as clients such as py-consul encode values like `?note=`.
    public static func formValue(_ name: String, of request: Request) -> String? {
        for pair in (request.uri.query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0]).replacingOccurrences(of: "+", with: " ")
            guard (key.removingPercentEncoding ?? key) == name else { continue }
            let raw = parts.count > 1 ? String(parts[1]).replacingOccurrences(of: "+", with: " ") : ""
            return raw.removingPercentEncoding ?? raw
        }
        return nil
    }

    /// The request's ACL token: `X-Consul-Token`, `Authorization: Bearer`, or `?token=`.
    public static func token(of request: Request) -> String? {
        if let token = request.headers[Self.tokenHeader], !token.isEmpty { return token }
        if let authorization = request.headers[.authorization], authorization.hasPrefix("Bearer ") {
            return String(authorization.dropFirst("Bearer ".count))
        }
        if let token = request.uri.queryParameters.get("token"), !token.isEmpty { return token }
        return nil
    }

    /// The blocking-query parameters: `?index=` and `?wait=` (400 `Invalid index` / `Invalid wait time`),
    /// and the consistency mode (`?stale` and `?consistent` together are refused, as Consul does).
    public static func blockingQuery(of request: Request) throws -> BlockingQuery {
        let parameters = request.uri.queryParameters
        if parameters.has("stale") && parameters.has("consistent") {
            throw ConsulHTTPError(.badRequest, "Cannot specify ?stale with ?consistent, conflicting semantics.")
        }
        var index: ModifyIndex = 0
        if let text = parameters.get("index"), !text.isEmpty {
            guard let value = UInt64(text) else { throw ConsulHTTPError(.badRequest, "Invalid index") }
            index = value
        }
        var wait: Duration?
        if let text = parameters.get("wait"), !text.isEmpty {
            guard let value = GoDuration.parse(text) else { throw ConsulHTTPError(.badRequest, "Invalid wait time") }
            wait = value
        }
        return BlockingQuery.make(index: index, wait: wait)
    }

    /// A boolean flag parameter such as `?passing`: present with no value means true.
    public static func flag(_ name: String, of request: Request) throws -> Bool {
        let parameters = request.uri.queryParameters
        guard parameters.has(Substring(name)) else { return false }
        let value = (parameters.get(name) ?? "").lowercased()
        switch value {
        case "", "1", "t", "true": return true
        case "0", "f", "false": return false
        default: throw ConsulHTTPError(.badRequest, "Invalid value for ?\(name)")
        }
    }
}
