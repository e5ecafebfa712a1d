import AsyncHTTPClient
public import Foundation
public import MeshRPC
import NIOCore
import NIOFoundationCompat
public import NIOHTTP1

/// A small HTTP client for a service's Consul-compatible REST API in tests.
public struct TestAPI: Sendable {
    public let address: HostPort
    /// Sent as `X-Consul-Token` when set.
    public var token: String?

    public init(_ address: HostPort, token: String? = nil) {
        self.address = address
        self.token = token
    }

    /// The same API with another token.
    public func with(token: String?) -> TestAPI {
        TestAPI(self.address, token: token)
    }

    /// A response: status, headers and body, with JSON helpers.
    public struct Answer: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: Data

        public var json: Any? { try? JSONSerialization.jsonObject(with: self.body, options: [.fragmentsAllowed]) }
        public var text: String { String(decoding: self.body, as: UTF8.self) }
        public var index: UInt64? { self.headers.first(name: "X-Consul-Index").flatMap(UInt64.init) }
        public var array: [[String: Any]] { (self.json as? [[String: Any]]) ?? [] }
        public var object: [String: Any] { (self.json as? [String: Any]) ?? [:] }
    }

    public func call(
        _ method: HTTPMethod,
        _ path: String,
        body: Data? = nil,
        timeout: Duration = .seconds(60)
    ) async throws
        -> Answer
    {
        var request = HTTPClientRequest(url: "http://\(self.address)\(path)")
        request.method = method
        if let token = self.token { request.headers.add(name: "X-Consul-Token", value: token) }
        if let body { request.body = .bytes(ByteBuffer(data: body)) }
        let response = try await HTTPClient.shared.execute(
            request,
            timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000)
        )
        let buffer = try await response.body.collect(upTo: 64 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers, body: Data(buffer: buffer))
    }

    public func get(_ path: String) async throws -> Answer { try await self.call(.GET, path) }

    public func delete(_ path: String) async throws -> Answer { try await self.call(.DELETE, path) }

    public func put(_ path: String, json: Any) async throws -> Answer {
        try await self.call(
            .PUT,
            path,
            body: try JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed])
        )
    }

    public func post(_ path: String, json: Any) async throws -> Answer {
        try await self.call(
            .POST,
            path,
            body: try JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed])
        )
    }

    public func put(_ path: String, text: String) async throws -> Answer {
        try await self.call(.PUT, path, body: Data(text.utf8))
    }
}

/// A test's own failure with a message.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
