public import AsyncHTTPClient
import HTTPTypes
public import Hummingbird
import MeshRPC
import NIOCore
import NIOHTTP1
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Forwards a REST request unchanged to another address and answers with what came back:
/// method, path and query, headers (the caller's token among them), body, status and the
/// answer's headers (`X-Consul-Index` of a blocking read among them). The one way both
/// `meshctl dev`'s gateway (to the service owning a path) and the local agent (to the control
/// plane, as a Consul client agent forwards what it does not serve itself) pass requests on.
public struct HTTPRelay: Sendable {
    /// The methods the API uses; another gets 405, as Consul answers it (a TRACE with a body
    /// was refused by the HTTP client and answered 502).
    static let methods: Set<HTTPRequest.Method> = [.get, .head, .put, .post, .delete, .patch, .options]

    /// A client for relays to addresses with public certificates: unlike `HTTPClient.shared`
    /// (8 connections per host), it holds as many connections as callers hold blocking queries
    /// (each waits up to 10 minutes on a connection of its own), and it passes redirects on
    /// instead of following them. Lives as long as the process.
    public static let sharedClient = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: Self.clientConfiguration(HTTPClient.Configuration())
    )

    /// `configuration` (its TLS settings kept) made fit for a relay's client: as many
    /// connections per address as callers hold blocking queries, redirects passed on.
    ///
    /// `retryConnecting`: whether a request to an address that refuses connections waits (the
    /// client retries with backoff until the request's deadline: right for one address, which
    /// may come back) or fails at once (right for replicas, where another can take it).
    public static func clientConfiguration(
        _ configuration: HTTPClient.Configuration,
        retryConnecting: Bool = true
    ) -> HTTPClient.Configuration {
        var configuration = configuration
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = Self.connectionsPerHost
        configuration.connectionPool.retryConnectionEstablishment = retryConnecting
        configuration.redirectConfiguration = .disallow
        return configuration
    }

    /// Connections a relay's client may hold to one address (blocking queries each hold one).
    static let connectionsPerHost = 1024

    public var client: HTTPClient
    /// Longer than the longest blocking query (Consul's 10 minutes plus its jitter).
    public var timeout: TimeAmount

    public init(client: HTTPClient, timeout: TimeAmount = .minutes(15)) {
        self.client = client
        self.timeout = timeout
    }

    /// Sends `request` to `base` (`scheme://host:port`) and answers with the response; a caller
    /// whose body is over the API's limit gets 413, an address that does not answer 502.
    public func forward(_ request: Request, to base: String) async throws -> Response {
        try await self.forward(request, toFirstReachable: [base])
    }

    /// Sends `request` to the first of `bases` (replicas of one service) that can be connected
    /// to: one that refuses the connection has received nothing, so the next one gets the
    /// request (with a client made with `retryConnecting: false`, the refusal is immediate). Any
    /// other failure ends it: the request may have reached that replica.
    public func forward(_ request: Request, toFirstReachable bases: [String]) async throws -> Response {
        guard Self.methods.contains(request.method) else {
            throw ConsulHTTPError(.methodNotAllowed, "method \(request.method.rawValue) not allowed")
        }
        var request = request
        var outbound = HTTPClientRequest(url: request.uri.description)
        outbound.method = HTTPMethod(rawValue: request.method.rawValue)
        for field in request.headers where field.name != .connection {
            outbound.headers.add(name: field.name.rawName, value: field.value)
        }
        let limit = ConsulHTTP.maximumBodySize
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit)
        } catch {
            throw ConsulHTTPError(.contentTooLarge, "Request body too large: the limit is \(limit) bytes")
        }
        if body.readableBytes > 0 { outbound.body = .bytes(body) }
        let path = outbound.url
        var answered: (status: UInt, headers: HTTPHeaders, body: ByteBuffer)?
        for (index, base) in bases.enumerated() {
            outbound.url = base + path
            do {
                answered = try await self.execute(outbound)
                break
            } catch {
                if Task.isCancelled || error is CancellationError {
                    throw ConsulHTTPError(.serviceUnavailable, "the relay is stopping")
                }
                if Self.isRefusedConnection(error), index < bases.count - 1 { continue }
                throw ConsulHTTPError(.badGateway, "\(base) did not answer: \(error)")
            }
        }
        guard let answered else { throw ConsulHTTPError(.badGateway, "no address to relay to") }
        var headers = HTTPFields()
        for (name, value) in answered.headers {
            guard let field = HTTPField.Name(name), field != .connection, field != .transferEncoding else { continue }
            headers.append(HTTPField(name: field, value: value))
        }
        return Response(
            status: HTTPResponse.Status(code: Int(answered.status)),
            headers: headers,
            body: ResponseBody(byteBuffer: answered.body)
        )
    }

    private func execute(
        _ outbound: HTTPClientRequest
    ) async throws -> (status: UInt, headers: HTTPHeaders, body: ByteBuffer) {
        let client = self.client
        let timeout = self.timeout
        // A blocking query may wait up to 10 minutes upstream: a relay stopping gracefully
        // (Ctrl-C on `meshctl dev`, SIGTERM to mesh-agent) ends it at once rather than hold the
        // shutdown that long; the caller retries, as after any lost connection.
        return try await cancelWhenGracefulShutdown {
            let response = try await client.execute(outbound, timeout: timeout)
            return (response.status.code, response.headers, try await response.body.collect(upTo: 256 << 20))
        }
    }

    /// Whether `error` says the connection was never made (nothing of the request was sent).
    static func isRefusedConnection(_ error: any Error) -> Bool {
        if let error = error as? IOError {
            return [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH].contains(error.errnoCode)
        }
        if let error = error as? HTTPClientError { return error == .connectTimeout }
        if case ChannelError.connectTimeout = error { return true }
        return false
    }
}
