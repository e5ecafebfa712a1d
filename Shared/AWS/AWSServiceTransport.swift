import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Signs and sends requests to one AWS service endpoint; shared by the STS, IAM and ECS clients.
struct AWSServiceTransport: Sendable {
    let httpClient: HTTPClient
    let endpoint: URL
    let region: String
    let service: String
    let credentialsProvider: any AWSCredentialsProvider
    let timeout: TimeAmount

    /// A raw response: status and body.
    struct Response: Sendable {
        var status: Int
        var body: [UInt8]
    }

    /// Builds and signs a POST of `body` to the endpoint, as of `date`, with `credentials`.
    func signedPost(
        body: [UInt8],
        headers: [(name: String, value: String)],
        credentials: AWSCredentials,
        date: Date
    ) throws(AWSClientError) -> AWSSignedHTTPRequest {
        guard let request = AWSRequest(method: "POST", url: self.endpoint, headers: headers, body: body) else {
            throw .invalidEndpoint(self.endpoint.absoluteString)
        }
        let signer = SigV4Signer(credentials: credentials, region: self.region, service: self.service)
        let signed: SigV4SignedRequest
        do throws(SigV4Error) {
            signed = try signer.sign(request, date: date)
        } catch {
            throw .signing(error)
        }
        return AWSSignedHTTPRequest(method: "POST", url: self.endpoint, body: body, headers: signed.request.headers)
    }

    /// Signs and sends a POST; a non-2xx answer becomes `.service` with the code and message from its body.
    func post(body: [UInt8], headers: [(name: String, value: String)]) async throws(AWSClientError) -> Response {
        let credentials: AWSCredentials
        do throws(AWSCredentialsError) {
            credentials = try await self.credentialsProvider.credentials()
        } catch {
            throw .credentials(error)
        }
        let signed = try self.signedPost(body: body, headers: headers, credentials: credentials, date: Date())
        var request = HTTPClientRequest(url: signed.url.absoluteString)
        request.method = .POST
        for header in signed.headers {
            request.headers.add(name: header.name, value: header.value)
        }
        request.body = .bytes(ByteBuffer(bytes: signed.body))
        let response: Response
        do {
            let answer = try await self.httpClient.execute(request, timeout: self.timeout)
            let buffer = try await answer.body.collect(upTo: 16 << 20)
            response = Response(status: Int(answer.status.code), body: Array(buffer.readableBytesView))
        } catch {
            throw .transport(reason: String(describing: error))
        }
        guard (200..<300).contains(response.status) else {
            throw .service(Self.serviceError(status: response.status, body: response.body))
        }
        return response
    }

    /// Reads the code and message from an XML (`<Error><Code>`) or JSON (`__type`, `message`) error body.
    static func serviceError(status: Int, body: [UInt8]) -> AWSServiceError {
        let text = String(decoding: body, as: UTF8.self)
        if text.trimmingWhitespace().hasPrefix("{") {
            struct JSONError: Decodable {
                var __type: String?
                var message: String?
                var Message: String?
            }
            let decoded = try? JSONDecoder().decode(JSONError.self, from: Data(body))
            // `__type` may be `prefix#Code` or carry a `:url` suffix.
            let code = decoded?.__type.map { type in
                let afterHash = type.split(separator: "#").last.map(String.init) ?? type
                return afterHash.split(separator: ":").first.map(String.init) ?? afterHash
            }
            return AWSServiceError(status: status, code: code, message: decoded?.message ?? decoded?.Message)
        }
        let xml = Substring(text)
        let error = MiniXML.first("Error", in: xml) ?? xml
        return AWSServiceError(
            status: status,
            code: MiniXML.text("Code", in: error),
            message: MiniXML.text("Message", in: error)
        )
    }

    /// An AWS Query-protocol call (STS, IAM): returns the XML body of the successful response.
    func query(
        action: String,
        version: String,
        parameters: [(String, String)] = []
    ) async throws(AWSClientError)
        -> Substring
    {
        let body = AWSFormEncoding.encode([("Action", action), ("Version", version)] + parameters)
        let response = try await self.post(
            body: Array(body.utf8),
            headers: [(name: "Content-Type", value: "application/x-www-form-urlencoded; charset=utf-8")]
        )
        return Substring(String(decoding: response.body, as: UTF8.self))
    }

    /// An AWS JSON 1.1 call (ECS): `X-Amz-Target: <targetPrefix>.<action>`, JSON in and out.
    func json<Input: Encodable, Output: Decodable>(
        target: String,
        input: Input,
        output: Output.Type
    ) async throws(AWSClientError) -> Output {
        let body: Data
        do {
            body = try JSONEncoder().encode(input)
        } catch {
            throw .malformedResponse(operation: target, reason: "cannot encode request")
        }
        let response = try await self.post(
            body: Array(body),
            headers: [
                (name: "Content-Type", value: "application/x-amz-json-1.1"),
                (name: "X-Amz-Target", value: target),
            ]
        )
        do {
            return try JSONDecoder().decode(Output.self, from: Data(response.body))
        } catch {
            throw .malformedResponse(operation: target, reason: "unexpected JSON")
        }
    }
}
