import AWS
import Foundation
import Testing

/// Behaviour of the signer and request model beyond what the AWS test suite covers.
@Suite("SigV4Signer contract")
struct AWSRequestSigningTests {
    let signer = SigV4Signer(
        credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret", sessionToken: "token"),
        region: "us-east-1",
        service: "iam"
    )
    let date = Date(timeIntervalSince1970: 1_440_938_160)

    @Test("the URL initialiser takes the wire-form path and query and adds Host")
    func urlInitialiser() throws {
        let url = try #require(URL(string: "https://iam.amazonaws.com:8443/a%20b/?Action=GetRole&RoleName=x"))
        let request = try #require(AWSRequest(method: "GET", url: url))
        #expect(request.path == "/a%20b/")
        #expect(request.query == "Action=GetRole&RoleName=x")
        #expect(request.headers.first?.name == "Host")
        #expect(request.headers.first?.value == "iam.amazonaws.com:8443")
        #expect(AWSRequest(method: "GET", url: try #require(URL(string: "file:///tmp"))) == nil)
    }

    @Test("escapes in the path are encoded again; the query is decoded then encoded once, '+' literally")
    func encoding() throws {
        let request = AWSRequest(
            method: "GET",
            path: "/a%20b/c",
            query: "b=%2Fx+y&a",
            headers: [(name: "Host", value: "iam.amazonaws.com")]
        )
        let lines = try self.signer.sign(request, date: self.date).canonicalRequest.split(separator: "\n")
        #expect(lines[1] == "/a%2520b/c")
        #expect(lines[2] == "a=&b=%2Fx%2By")
    }

    @Test("re-signing replaces the previous signature, date and token instead of adding more")
    func resign() throws {
        let first = try self.signer.sign(
            AWSRequest(method: "GET", path: "/", headers: [(name: "Host", value: "iam.amazonaws.com")]),
            date: self.date
        )
        let second = try self.signer.sign(first.request, date: self.date.addingTimeInterval(60))
        #expect(second.request.headers.count == 4)
        #expect(second.request.firstValue(forHeader: "x-amz-date") == "20150830T123700Z")
        #expect(second.signedHeaders == "host;x-amz-date;x-amz-security-token")
    }

    @Test("X-Amz-Content-Sha256 is only sent when asked for")
    func contentHash() throws {
        let request = AWSRequest(method: "GET", path: "/", headers: [(name: "Host", value: "iam.amazonaws.com")])
        let plain = try self.signer.sign(request, date: self.date)
        #expect(plain.request.firstValue(forHeader: "x-amz-content-sha256") == nil)
        let signed = try self.signer.sign(request, date: self.date, includeContentSHA256Header: true)
        #expect(
            signed.request.firstValue(forHeader: "x-amz-content-sha256")
                == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        )
        #expect(signed.signedHeaders == "host;x-amz-content-sha256;x-amz-date;x-amz-security-token")
    }

    @Test("a request without Host is refused")
    func missingHost() {
        #expect(throws: SigV4Error.missingHostHeader) {
            try self.signer.sign(AWSRequest(method: "GET", path: "/"), date: self.date)
        }
    }

    @Test("credentials never print their secret or token")
    func redaction() {
        let description = String(describing: self.signer.credentials)
        #expect(description.contains("AKIDEXAMPLE"))
        #expect(!description.contains("secret\""))
        #expect(!description.contains("token\""))
        #expect(description.contains("<redacted>"))
    }
}
