import AWS
import AsyncHTTPClient
import Foundation
import Testing

@testable import IAMAuth

/// The checks a bearer token passes before the server sends anything anywhere.
@Suite("aws-iam bearer token checks")
struct BearerTokenTests {
    static let endpoint = URL(string: "http://127.0.0.1:9/")!
    static let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret", sessionToken: "s")

    /// A token as a client makes it: signed for `endpoint`, with entity headers and a server ID.
    static func token(
        endpoint: URL = Self.endpoint,
        iamEndpoint: URL? = nil,
        serverID: String? = "mesh.test",
        extraHeaders: [(name: String, value: String)] = []
    ) throws -> String {
        let sts = STSClient(
            httpClient: .shared,
            credentialsProvider: StaticCredentialsProvider(Self.credentials),
            endpoint: endpoint
        )
        let iam = IAMClient(
            httpClient: .shared,
            credentialsProvider: StaticCredentialsProvider(Self.credentials),
            endpoint: iamEndpoint ?? endpoint
        )
        let serverHeader = serverID.map { [(name: IAMLoginBearerToken.serverIDHeader, value: $0)] } ?? []
        let entity = try iam.signedGetEntityRequest(
            roleName: "web",
            credentials: Self.credentials,
            additionalHeaders: serverHeader
        )
        let signed = try sts.signedGetCallerIdentityRequest(
            credentials: Self.credentials,
            additionalHeaders: serverHeader + extraHeaders + [
                (IAMLoginBearerToken.entityMethodHeader, entity.method),
                (IAMLoginBearerToken.entityURLHeader, entity.url.absoluteString),
                (IAMLoginBearerToken.entityHeadersHeader, IAMLoginBearerToken.headersJSON(entity.headers)),
                (IAMLoginBearerToken.entityBodyHeader, String(decoding: entity.body, as: UTF8.self)),
            ],
            date: Date()
        )
        return IAMLoginBearerToken.encode(signed)
    }

    static var config: AWSIAMMethodConfig {
        var config = AWSIAMMethodConfig()
        config.boundIAMPrincipalARNs = ["arn:aws:iam::123456789012:role/consul-ecs/*"]
        config.enableIAMEntityDetails = true
        config.stsEndpoint = Self.endpoint.absoluteString
        config.iamEndpoint = Self.endpoint.absoluteString
        config.serverIDHeaderValue = "mesh.test"
        return config
    }

    /// The token with one of its JSON fields changed (decoded from base64 and re-encoded).
    static func altered(_ token: String, field: String, _ change: (String) -> String) throws -> String {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(token.utf8)) as? [String: String])
        let raw = try #require(object[field])
        if field == "iam_http_request_method" {
            object[field] = change(raw)
        } else {
            let decoded = String(decoding: try #require(Data(base64Encoded: raw)), as: UTF8.self)
            object[field] = Data(change(decoded).utf8).base64EncodedString()
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    func refusal(_ token: String, config: AWSIAMMethodConfig = Self.config) -> String? {
        do {
            _ = try IAMBearerToken(token, config: config)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test("a well-formed token passes, and its requests go to the configured endpoints only")
    func accepted() throws {
        let token = try IAMBearerToken(try Self.token(), config: Self.config)
        #expect(token.callerIdentity.target.absoluteString == "http://127.0.0.1:9/")
        #expect(token.callerIdentity.body == STSClient.getCallerIdentityBody)
        #expect(token.entityAction == "GetRole")
        #expect(token.entity?.body.contains("RoleName=web") == true)
        #expect(token.callerIdentity.values(of: "host").isEmpty)
    }

    @Test("refused: another method, another host, another action, unknown X-Amz headers, garbage")
    func refusedShapes() throws {
        let token = try Self.token()
        #expect(self.refusal(try Self.altered(token, field: "iam_http_request_method") { _ in "GET" }) != nil)
        let otherHost = try Self.token(endpoint: URL(string: "http://127.0.0.2:9/")!)
        #expect(self.refusal(otherHost)?.contains("not the configured") == true)
        let otherPort = try Self.token(endpoint: URL(string: "http://127.0.0.1:10/")!)
        #expect(self.refusal(otherPort) != nil)
        let assume = try Self.altered(token, field: "iam_request_body") { _ in
            "Action=AssumeRole&Version=2011-06-15&RoleArn=x"
        }
        #expect(self.refusal(assume)?.contains("GetCallerIdentity") == true)
        let twice = try Self.altered(token, field: "iam_request_body") { _ in
            "Action=GetCallerIdentity&Action=GetCallerIdentity"
        }
        #expect(self.refusal(twice) != nil)
        let extra = try Self.token(extraHeaders: [(name: "X-Amz-Extra", value: "1")])
        #expect(self.refusal(extra)?.contains("X-Amz-Extra") == true)
        var allowing = Self.config
        allowing.allowedSTSHeaderValues = ["X-Amz-Extra"]
        #expect(self.refusal(extra, config: allowing) == nil)
        #expect(self.refusal("not json") != nil)
        #expect(self.refusal(#"{"iam_http_request_method":"POST"}"#) != nil)
    }

    @Test("refused: a missing, different or unsigned server ID; a missing entity request")
    func refusedServerID() throws {
        #expect(self.refusal(try Self.token(serverID: nil))?.contains("missing header") == true)
        #expect(self.refusal(try Self.token(serverID: "other"))?.contains("expected") == true)
        // The header added after signing is not covered by the signature.
        let unsigned = try Self.altered(try Self.token(serverID: nil), field: "iam_request_headers") { json in
            json.replacingOccurrences(of: "{", with: "{\"X-Consul-IAM-ServerID\":[\"mesh.test\"],", options: .anchored)
        }
        #expect(self.refusal(unsigned)?.contains("wasn't signed") == true)
        let noEntity = try Self.altered(try Self.token(), field: "iam_request_headers") { json in
            json.replacingOccurrences(of: "X-Consul-IAM-GetEntity-Body", with: "X-Other")
        }
        #expect(self.refusal(noEntity)?.contains("missing header") == true)
    }

    @Test("without a configured endpoint only AWS's own STS hosts over HTTPS are accepted")
    func awsHostsOnly() throws {
        var config = Self.config
        config.stsEndpoint = ""
        config.iamEndpoint = ""
        config.serverIDHeaderValue = ""
        #expect(self.refusal(try Self.token(serverID: nil), config: config)?.contains("hostname") == true)
        let aws = try Self.token(endpoint: URL(string: "https://sts.us-east-1.amazonaws.com/")!, serverID: nil)
        // The entity URL in that token is still 127.0.0.1, which is refused as an IAM host.
        #expect(self.refusal(aws, config: config)?.contains("IAM hostname") == true)
        config.enableIAMEntityDetails = false
        config.boundIAMPrincipalARNs = ["arn:aws:iam::123456789012:role/web"]
        #expect(self.refusal(aws, config: config) == nil)
        let lookalike = try Self.token(endpoint: URL(string: "https://sts.amazonaws.com.evil.test/")!, serverID: nil)
        #expect(self.refusal(lookalike, config: config) != nil)
    }

    @Test(
        "AWS host forms: STS and IAM, global, regional, FIPS and China hosts pass; S3 bucket hosts and other shapes do not",
        arguments: [
            ("sts.amazonaws.com", "sts", true), ("sts.us-east-1.amazonaws.com", "sts", true),
            ("sts-fips.us-gov-west-1.amazonaws.com", "sts", true), ("sts.cn-north-1.amazonaws.com.cn", "sts", true),
            ("iam.amazonaws.com", "iam", true), ("iam-fips.amazonaws.com", "iam", true),
            ("sts.bucket.s3.amazonaws.com", "sts", false), ("sts.mybucket.amazonaws.com", "sts", false),
            ("sts.us-east-1.s3.amazonaws.com", "sts", false), ("iam.amazonaws.com", "sts", false),
            ("xsts.amazonaws.com", "sts", false), ("sts.amazonaws.com.evil.test", "sts", false),
            ("sts..amazonaws.com", "sts", false), ("amazonaws.com", "sts", false),
        ]
    )
    func awsHostForms(host: String, service: String, accepted: Bool) {
        #expect(IAMBearerToken.isAWSHost(host, service: service) == accepted)
    }

    @Test("with an endpoint configured, a token signed for AWS's global host is sent there with that Host")
    func configuredEndpointKeepsSignedHost() throws {
        let token = try IAMBearerToken(
            try Self.token(endpoint: URL(string: "https://sts.amazonaws.com/")!, iamEndpoint: Self.endpoint),
            config: Self.config
        )
        #expect(token.callerIdentity.target.absoluteString == "http://127.0.0.1:9/")
        #expect(token.callerIdentity.host == "sts.amazonaws.com")
        // The entity request in that token names the endpoint itself: no Host override.
        #expect(token.entity?.host == nil)
        let bucket = try Self.token(
            endpoint: URL(string: "https://sts.bucket.s3.amazonaws.com/")!,
            iamEndpoint: Self.endpoint
        )
        #expect(self.refusal(bucket)?.contains("not the configured") == true)
    }
}
