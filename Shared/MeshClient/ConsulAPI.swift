public import AsyncHTTPClient
public import Foundation
public import NIOCore
import NIOFoundationCompat
public import NIOHTTP1

/// A small client of the mesh's Consul-compatible REST API, for the data-plane tools
/// (mesh-agent, `meshctl login`): one base URL, one token, Consul's status codes as errors.
public struct ConsulAPI: Sendable {
    /// `text` percent-encoded for a path segment or a query value (RFC 3986's unreserved
    /// characters kept).
    public static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
            ?? text
    }

    /// e.g. `http://127.0.0.1:8500`.
    public var baseURL: String
    /// Sent as `X-Consul-Token` when set.
    public var token: String?
    public var httpClient: HTTPClient
    public var timeout: TimeAmount
    /// How many times an idempotent call (GET, PUT, DELETE) is tried again after a transient
    /// failure: the address unreachable, or 502/503/504 (a control-plane replica that died or
    /// is stopping behind the load balancer). 0.2 s apart, doubling to 2 s. Not for POST (a
    /// login sent twice would make two tokens).
    public var transientRetries = 0

    /// - Parameter address: `host:port` or a URL; `http://` is assumed without a scheme.
    public init(
        address: String,
        token: String? = nil,
        httpClient: HTTPClient = .shared,
        timeout: TimeAmount = .seconds(30)
    ) {
        var base = address
        if !base.hasPrefix("http://") && !base.hasPrefix("https://") { base = "http://" + base }
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.token = token
        self.httpClient = httpClient
        self.timeout = timeout
    }

    /// The same API with another token.
    public func with(token: String?) -> ConsulAPI {
        var copy = self
        copy.token = token
        return copy
    }

    /// Sends a request; a non-2xx answer throws `ConsulAPIError.status` with the body's message.
    public func call(_ method: HTTPMethod, _ path: String, json body: Data? = nil) async throws -> Data {
        try await self.exchange(method, path, json: body).body
    }

    /// The same, with the response's headers (`X-Consul-Index` of a blocking read).
    public func exchange(
        _ method: HTTPMethod,
        _ path: String,
        json body: Data? = nil
    ) async throws -> (body: Data, headers: HTTPHeaders) {
        let retries = [.GET, .PUT, .DELETE, .HEAD].contains(method) ? self.transientRetries : 0
        var delay: Duration = .milliseconds(200)
        for _ in 0..<retries {
            do {
                return try await self.exchangeOnce(method, path, json: body)
            } catch let error as ConsulAPIError where error.isTransient {
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
        return try await self.exchangeOnce(method, path, json: body)
    }

    private func exchangeOnce(
        _ method: HTTPMethod,
        _ path: String,
        json body: Data?
    ) async throws -> (body: Data, headers: HTTPHeaders) {
        var request = HTTPClientRequest(url: self.baseURL + path)
        request.method = method
        if let token = self.token, !token.isEmpty { request.headers.add(name: "X-Consul-Token", value: token) }
        if let body {
            request.body = .bytes(ByteBuffer(data: body))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        let response: HTTPClientResponse
        do {
            response = try await self.httpClient.execute(request, timeout: self.timeout)
        } catch {
            throw ConsulAPIError.unreachable(self.baseURL, "\(error)")
        }
        let data = Data(buffer: try await response.body.collect(upTo: 64 << 20))
        guard (200..<300).contains(response.status.code) else {
            let message = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ConsulAPIError.status(Int(response.status.code), message)
        }
        return (data, response.headers)
    }

    /// A token as `/v1/acl/login` returns it.
    public struct LoginToken: Sendable, Decodable {
        public var AccessorID: String
        public var SecretID: String
        public var ServiceIdentities: [ServiceIdentity]?

        public struct ServiceIdentity: Sendable, Decodable {
            public var ServiceName: String
        }
    }

    /// `POST /v1/acl/login`.
    public func login(method: String, bearerToken: String, meta: [String: String]) async throws -> LoginToken {
        let body = try JSONSerialization.data(
            withJSONObject: ["AuthMethod": method, "BearerToken": bearerToken, "Meta": meta]
        )
        let data = try await self.call(.POST, "/v1/acl/login", json: body)
        return try JSONDecoder().decode(LoginToken.self, from: data)
    }

    /// `POST /v1/acl/logout` of this API's token.
    public func logout() async throws {
        _ = try await self.call(.POST, "/v1/acl/logout")
    }
}

/// Why a call to the REST API failed.
public enum ConsulAPIError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreachable(String, String)
    case status(Int, String)

    /// A failure another try may not meet: no answer, or a gateway's or a stopping replica's.
    public var isTransient: Bool {
        switch self {
        case .unreachable: true
        case .status(let code, _): [502, 503, 504].contains(code)
        }
    }

    public var description: String {
        switch self {
        case .unreachable(let address, let reason): "cannot reach \(address): \(reason)"
        case .status(let code, let message): "Unexpected response code: \(code) (\(message))"
        }
    }
}
