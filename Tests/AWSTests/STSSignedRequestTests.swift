import AWS
import AsyncHTTPClient
import Foundation
import Testing

@Suite("Signed GetCallerIdentity request (not sent)")
struct STSSignedRequestTests {
    @Test("POST form body, signed extra header, token and Authorization present; deterministic for a date")
    func signedRequest() async throws {
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        let credentials = AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret", sessionToken: "token")
        let sts = STSClient(httpClient: httpClient, credentialsProvider: StaticCredentialsProvider(credentials))
        let date = Date(timeIntervalSince1970: 1_700_000_000)
        let signed = try sts.signedGetCallerIdentityRequest(
            credentials: credentials,
            additionalHeaders: [(name: "X-Consul-IAM-ServerID", value: "consul.example")],
            date: date
        )
        #expect(signed.method == "POST")
        #expect(signed.url.absoluteString == "https://sts.amazonaws.com/")
        #expect(String(decoding: signed.body, as: UTF8.self) == "Action=GetCallerIdentity&Version=2011-06-15")
        let headers = Dictionary(signed.headers.map { ($0.name.lowercased(), $0.value) }) { first, _ in first }
        #expect(headers["host"] == "sts.amazonaws.com")
        #expect(headers["x-amz-date"] == "20231114T221320Z")
        #expect(headers["x-amz-security-token"] == "token")
        let authorization = try #require(headers["authorization"])
        #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKID/20231114/us-east-1/sts/aws4_request, "))
        #expect(authorization.contains("x-consul-iam-serverid"))
        let again = try await sts.signedGetCallerIdentityRequest(
            additionalHeaders: [(name: "X-Consul-IAM-ServerID", value: "consul.example")],
            date: date
        )
        #expect(again == signed)
        try await httpClient.shutdown()
    }
}
