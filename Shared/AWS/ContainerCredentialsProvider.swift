public import AsyncHTTPClient
public import Foundation
public import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Credentials from the ECS / EKS Pod Identity container endpoint.
///
/// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is resolved against `http://169.254.170.2`; otherwise
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI` is used as is, which, as in the SDKs, must be HTTPS or target a loopback or
/// the ECS/EKS link-local address (plain HTTP elsewhere would expose the token). `AWS_CONTAINER_AUTHORIZATION_TOKEN`,
/// or the contents of `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (re-read on each fetch, since EKS rotates it), is sent
/// as `Authorization`. The answer is cached until five minutes before its `Expiration`; concurrent callers share one
/// fetch.
public actor ContainerCredentialsProvider: AWSCredentialsProvider {
    /// The ECS agent's fixed address that relative URIs are resolved against.
    public static let ecsHost = "http://169.254.170.2"
    /// How long before `Expiration` cached credentials are considered stale.
    public static let refreshMargin: TimeInterval = 5 * 60

    private let environment: [String: String]
    private let httpClient: HTTPClient
    private let timeout: TimeAmount
    private let now: @Sendable () -> Date
    private var cached: AWSCredentials?
    private var inFlight: Task<Result<AWSCredentials, AWSCredentialsError>, Never>?

    /// A provider reading its configuration from `environment` and fetching with `httpClient`.
    ///
    /// - Parameter now: the clock used for the expiry check; injectable for tests.
    public init(
        environment: [String: String],
        httpClient: HTTPClient,
        timeout: TimeAmount = .seconds(5),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.environment = environment
        self.httpClient = httpClient
        self.timeout = timeout
        self.now = now
    }

    /// Whether the environment selects the container endpoint at all.
    public nonisolated var isConfigured: Bool {
        self.environment.nonEmpty("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != nil
            || self.environment.nonEmpty("AWS_CONTAINER_CREDENTIALS_FULL_URI") != nil
    }

    public func credentials() async throws(AWSCredentialsError) -> AWSCredentials {
        if let cached = self.cached, let expiration = cached.expiration,
            self.now() < expiration.addingTimeInterval(-Self.refreshMargin)
        {
            return cached
        }
        let task: Task<Result<AWSCredentials, AWSCredentialsError>, Never>
        if let inFlight = self.inFlight {
            task = inFlight
        } else {
            task = Task { await self.fetchResult() }
            self.inFlight = task
        }
        let result = await task.value
        self.inFlight = nil
        switch result {
        case .success(let credentials):
            self.cached = credentials
            return credentials
        case .failure(let error):
            throw error
        }
    }

    private func fetchResult() async -> Result<AWSCredentials, AWSCredentialsError> {
        do throws(AWSCredentialsError) {
            return .success(try await self.fetch())
        } catch {
            return .failure(error)
        }
    }

    /// The URL to fetch, validated.
    nonisolated func endpoint() throws(AWSCredentialsError) -> String {
        if let relative = self.environment.nonEmpty("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            return Self.ecsHost + (relative.hasPrefix("/") ? relative : "/" + relative)
        }
        guard let full = self.environment.nonEmpty("AWS_CONTAINER_CREDENTIALS_FULL_URI") else {
            throw .notConfigured(source: "container endpoint")
        }
        guard let components = URLComponents(string: full), let scheme = components.scheme?.lowercased(),
            let host = components.host, !host.isEmpty
        else {
            throw .invalidContainerURI(reason: "AWS_CONTAINER_CREDENTIALS_FULL_URI is not an absolute URL")
        }
        switch scheme {
        case "https":
            return full
        case "http":
            guard Self.isAllowedPlainHTTPHost(host) else {
                throw .invalidContainerURI(reason: "plain HTTP is only allowed to loopback or ECS/EKS hosts")
            }
            return full
        default:
            throw .invalidContainerURI(reason: "unsupported scheme \(scheme)")
        }
    }

    static func isAllowedPlainHTTPHost(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        return bare == "localhost" || bare.hasPrefix("127.") || bare == "::1" || bare == "169.254.170.2"
            || bare == "169.254.170.23" || bare == "fd00:ec2::23"
    }

    private func authorizationToken() throws(AWSCredentialsError) -> String? {
        if let token = self.environment.nonEmpty("AWS_CONTAINER_AUTHORIZATION_TOKEN") {
            return token
        }
        guard let path = self.environment.nonEmpty("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") else {
            return nil
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw .unreadableFile(path: path)
        }
        return text.trimmingWhitespace()
    }

    private func fetch() async throws(AWSCredentialsError) -> AWSCredentials {
        let url = try self.endpoint()
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        request.headers.add(name: "Accept", value: "application/json")
        if let token = try self.authorizationToken() {
            request.headers.add(name: "Authorization", value: token)
        }
        let status: UInt
        let body: ByteBuffer
        do {
            let response = try await self.httpClient.execute(request, timeout: self.timeout)
            status = response.status.code
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw .containerUnreachable(reason: String(describing: type(of: error)))
        }
        guard (200..<300).contains(status) else {
            throw .containerHTTPStatus(Int(status))
        }
        return try Self.decode(Data(buffer: body))
    }

    /// Parses the endpoint's `{AccessKeyId, SecretAccessKey, Token, Expiration}` document.
    static func decode(_ data: Data) throws(AWSCredentialsError) -> AWSCredentials {
        struct Document: Decodable {
            var AccessKeyId: String?
            var SecretAccessKey: String?
            var Token: String?
            var Expiration: String?
        }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch {
            throw .invalidContainerResponse(reason: "not a JSON credentials document")
        }
        guard let accessKeyID = document.AccessKeyId, !accessKeyID.isEmpty else {
            throw .invalidContainerResponse(reason: "AccessKeyId missing")
        }
        guard let secret = document.SecretAccessKey, !secret.isEmpty else {
            throw .invalidContainerResponse(reason: "SecretAccessKey missing")
        }
        var expiration: Date?
        if let text = document.Expiration {
            guard let date = AWSTimestamp.parse(text) else {
                throw .invalidContainerResponse(reason: "Expiration is not an ISO 8601 timestamp")
            }
            expiration = date
        }
        return AWSCredentials(
            accessKeyID: accessKeyID,
            secretAccessKey: secret,
            sessionToken: document.Token.flatMap { $0.isEmpty ? nil : $0 },
            expiration: expiration
        )
    }
}
