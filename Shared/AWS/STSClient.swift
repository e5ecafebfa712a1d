public import AsyncHTTPClient
public import Foundation
public import NIOCore

/// The caller identity STS reports: who the signing credentials belong to.
public struct STSCallerIdentity: Sendable, Hashable {
    /// The ARN of the user or assumed role, e.g. `arn:aws:sts::123456789012:assumed-role/web/i-0abc`.
    public var arn: String
    /// The unique ID of the principal (`AIDA…`, or `AROA…:session` for roles).
    public var userID: String
    /// The 12-digit account number.
    public var account: String

    /// An identity from its three fields.
    public init(arn: String, userID: String, account: String) {
        self.arn = arn
        self.userID = userID
        self.account = account
    }
}

/// A minimal STS client: `GetCallerIdentity`, sent or only signed (for Consul's `aws-iam` login).
public struct STSClient: Sendable {
    /// The API version of the Query protocol calls.
    public static let apiVersion = "2011-06-15"
    /// The form body of `GetCallerIdentity`, which Consul's `aws-iam` method also expects verbatim.
    public static let getCallerIdentityBody = "Action=GetCallerIdentity&Version=2011-06-15"

    let transport: AWSServiceTransport

    /// A client for `endpoint` (default: the global `https://sts.amazonaws.com`, signed for `us-east-1`).
    ///
    /// - Parameter endpoint: override for regional endpoints or a local emulator such as moto.
    public init(
        httpClient: HTTPClient,
        credentialsProvider: any AWSCredentialsProvider,
        region: String = "us-east-1",
        endpoint: URL? = nil,
        timeout: TimeAmount = .seconds(10)
    ) {
        self.transport = AWSServiceTransport(
            httpClient: httpClient,
            endpoint: endpoint ?? Self.defaultEndpoint,
            region: region,
            service: "sts",
            credentialsProvider: credentialsProvider,
            timeout: timeout
        )
    }

    private static var defaultEndpoint: URL {
        URL(string: "https://sts.amazonaws.com/") ?? URL(fileURLWithPath: "/")
    }

    /// Who the current credentials belong to.
    public func getCallerIdentity() async throws(AWSClientError) -> STSCallerIdentity {
        let xml = try await self.transport.query(action: "GetCallerIdentity", version: Self.apiVersion)
        return try STSCallerIdentity(getCallerIdentityResponse: String(xml))
    }

    /// Temporary credentials for `roleARN` (`sts:AssumeRole`), as a workload running under that role gets them.
    public func assumeRole(
        roleARN: String,
        sessionName: String,
        durationSeconds: Int = 3600
    ) async throws(AWSClientError) -> AWSCredentials {
        let xml = try await self.transport.query(
            action: "AssumeRole",
            version: Self.apiVersion,
            parameters: [
                ("RoleArn", roleARN), ("RoleSessionName", sessionName), ("DurationSeconds", String(durationSeconds)),
            ]
        )
        guard let credentials = MiniXML.first("Credentials", in: xml),
            let keyID = MiniXML.text("AccessKeyId", in: credentials),
            let secret = MiniXML.text("SecretAccessKey", in: credentials)
        else {
            throw .malformedResponse(operation: "AssumeRole", reason: "Credentials missing")
        }
        return AWSCredentials(
            accessKeyID: keyID,
            secretAccessKey: secret,
            sessionToken: MiniXML.text("SessionToken", in: credentials),
            expiration: MiniXML.text("Expiration", in: credentials).flatMap(AWSTimestamp.parse)
        )
    }

    /// A signed `GetCallerIdentity` request, not sent, with credentials from the client's provider.
    ///
    /// - Parameter additionalHeaders: signed along (e.g. `X-Consul-IAM-ServerID`, which Consul checks to stop a
    ///   token made for one cluster being replayed against another).
    public func signedGetCallerIdentityRequest(
        additionalHeaders: [(name: String, value: String)] = [],
        date: Date = Date()
    ) async throws(AWSClientError) -> AWSSignedHTTPRequest {
        let credentials: AWSCredentials
        do throws(AWSCredentialsError) {
            credentials = try await self.transport.credentialsProvider.credentials()
        } catch {
            throw .credentials(error)
        }
        return try self.signedGetCallerIdentityRequest(
            credentials: credentials,
            additionalHeaders: additionalHeaders,
            date: date
        )
    }

    /// A signed `GetCallerIdentity` request with explicit credentials and date (deterministic, for tests).
    public func signedGetCallerIdentityRequest(
        credentials: AWSCredentials,
        additionalHeaders: [(name: String, value: String)] = [],
        date: Date
    ) throws(AWSClientError) -> AWSSignedHTTPRequest {
        try self.transport.signedPost(
            body: Array(Self.getCallerIdentityBody.utf8),
            headers: [(name: "Content-Type", value: "application/x-www-form-urlencoded; charset=utf-8")]
                + additionalHeaders,
            credentials: credentials,
            date: date
        )
    }
}
