import AWS
import AsyncHTTPClient
import Foundation
import Synchronization
import Testing

@Suite("Container credentials endpoint")
struct ContainerCredentialsProviderTests {
    static func document(expiration: Date) -> String {
        let stamp = expiration.formatted(Date.ISO8601FormatStyle())
        return """
            {"AccessKeyId":"ASIACONTAINER","SecretAccessKey":"containersecret","Token":"containertoken",\
            "Expiration":"\(stamp)","RoleArn":"arn:aws:iam::123456789012:role/web"}
            """
    }

    @Test("FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN: header sent, answer cached until 5 min before expiry")
    func fullURIWithTokenAndCaching() async throws {
        let server = try await CredentialsTestServer()
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        do {
            server.respond(with: Self.document(expiration: clock.now.addingTimeInterval(3600)))
            let provider = ContainerCredentialsProvider(
                environment: [
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(server.port)/v1/credentials?id=7",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "Bearer s3cr3t",
                ],
                httpClient: httpClient,
                now: { clock.now }
            )
            let first = try await provider.credentials()
            #expect(first.accessKeyID == "ASIACONTAINER")
            #expect(first.secretAccessKey == "containersecret")
            #expect(first.sessionToken == "containertoken")
            #expect(first.expiration == clock.now.addingTimeInterval(3600))
            #expect(server.seen.count == 1)
            #expect(server.seen.first?.authorization == "Bearer s3cr3t")
            #expect(server.seen.first?.uri == "/v1/credentials?id=7")

            clock.advance(by: 3600 - 301)
            _ = try await provider.credentials()
            #expect(server.seen.count == 1, "still more than 5 minutes to expiry: served from the cache")

            clock.advance(by: 2)
            server.respond(with: Self.document(expiration: clock.now.addingTimeInterval(3600)))
            _ = try await provider.credentials()
            #expect(server.seen.count == 2, "within 5 minutes of expiry: fetched again")
        } catch {
            try await httpClient.shutdown()
            try await server.shutdown()
            throw error
        }
        try await httpClient.shutdown()
        try await server.shutdown()
    }

    @Test("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE is read and sent; chain picks the container before the profile")
    func tokenFileThroughChain() async throws {
        let server = try await CredentialsTestServer()
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        let directory = try TemporaryDirectory()
        do {
            server.respond(with: Self.document(expiration: Date().addingTimeInterval(3600)))
            try "file-token\n".write(toFile: directory.path + "/token", atomically: true, encoding: .utf8)
            let chain = AWSCredentialsProviderChain.default(
                environment: [
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://localhost:\(server.port)/creds",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": directory.path + "/token",
                    "HOME": directory.path,
                ],
                httpClient: httpClient
            )
            #expect(try await chain.credentials().accessKeyID == "ASIACONTAINER")
            #expect(server.seen.first?.authorization == "file-token")
        } catch {
            directory.remove()
            try await httpClient.shutdown()
            try await server.shutdown()
            throw error
        }
        directory.remove()
        try await httpClient.shutdown()
        try await server.shutdown()
    }

    @Test("plain HTTP to a non-loopback host is refused; a bad document is a typed error without secrets")
    func rejections() async throws {
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        let remote = ContainerCredentialsProvider(
            environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://example.com/creds"],
            httpClient: httpClient
        )
        await #expect(
            throws: AWSCredentialsError.invalidContainerURI(
                reason: "plain HTTP is only allowed to loopback or ECS/EKS hosts"
            )
        ) {
            try await remote.credentials()
        }
        let none = ContainerCredentialsProvider(environment: [:], httpClient: httpClient)
        #expect(!none.isConfigured)
        await #expect(throws: AWSCredentialsError.notConfigured(source: "container endpoint")) {
            try await none.credentials()
        }

        let server = try await CredentialsTestServer()
        server.respond(with: #"{"AccessKeyId":"A","Token":"leaky"}"#)
        let broken = ContainerCredentialsProvider(
            environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(server.port)/"],
            httpClient: httpClient
        )
        do throws(AWSCredentialsError) {
            _ = try await broken.credentials()
            Issue.record("expected an error")
        } catch {
            #expect(error == .invalidContainerResponse(reason: "SecretAccessKey missing"))
            #expect(!error.description.contains("leaky"))
        }
        try await server.shutdown()
        try await httpClient.shutdown()
    }
}

/// A settable clock for expiry tests.
final class TestClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date) {
        self.current = Mutex(start)
    }

    var now: Date {
        self.current.withLock { $0 }
    }

    func advance(by seconds: TimeInterval) {
        self.current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}
