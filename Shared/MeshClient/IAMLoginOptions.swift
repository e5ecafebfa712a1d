import AWS
public import AsyncHTTPClient
public import Foundation

/// How a workload logs in with its AWS identity (`consul login -type aws-iam`'s `-aws-*` options).
public struct IAMLoginOptions: Sendable {
    public var region: String
    /// Where the signed `GetCallerIdentity` is addressed (the auth method's `STSEndpoint`); default AWS's.
    public var stsEndpoint: URL?
    /// Where the signed `GetRole`/`GetUser` is addressed (the method's `IAMEndpoint`); default AWS's.
    public var iamEndpoint: URL?
    /// Embed the entity request (needed when the method has `EnableIAMEntityDetails`).
    public var includeEntity: Bool
    /// The method's `ServerIDHeaderValue`, if it has one.
    public var serverIDHeaderValue: String?

    public init(
        region: String = "us-east-1",
        stsEndpoint: URL? = nil,
        iamEndpoint: URL? = nil,
        includeEntity: Bool = true,
        serverIDHeaderValue: String? = nil
    ) {
        self.region = region
        self.stsEndpoint = stsEndpoint
        self.iamEndpoint = iamEndpoint
        self.includeEntity = includeEntity
        self.serverIDHeaderValue = serverIDHeaderValue
    }

    /// A bearer token signed with the credentials the environment provides (environment
    /// variables, the ECS container endpoint, or a profile). No credential leaves the process:
    /// only signatures over the two requests do.
    public func bearerToken(environment: [String: String], httpClient: HTTPClient) async throws -> String {
        let credentials = AWSCredentialsProviderChain.default(environment: environment, httpClient: httpClient)
        let sts = STSClient(
            httpClient: httpClient,
            credentialsProvider: credentials,
            region: self.region,
            endpoint: self.stsEndpoint ?? URL(string: "https://sts.\(self.region).amazonaws.com/")
        )
        let iam = IAMClient(httpClient: httpClient, credentialsProvider: credentials, endpoint: self.iamEndpoint)
        return try await IAMLoginBearerToken(sts: sts, iam: iam)
            .make(includeEntity: self.includeEntity, serverIDHeaderValue: self.serverIDHeaderValue)
    }
}
