public import AsyncHTTPClient

/// Tries providers in order and answers with the first that is configured, like the SDKs' default chain.
///
/// A provider that throws `.notConfigured` is skipped; any other error stops the chain, because a source that is set
/// up but failing (e.g. the container endpoint being briefly down) must not silently fall through to a different
/// identity further down.
public struct AWSCredentialsProviderChain: AWSCredentialsProvider {
    /// The providers, most preferred first.
    public var providers: [any AWSCredentialsProvider]

    /// A chain over `providers`, most preferred first.
    public init(_ providers: [any AWSCredentialsProvider]) {
        self.providers = providers
    }

    /// The SDK order: environment variables, then the container endpoint, then the shared credentials file.
    public static func `default`(environment: [String: String], httpClient: HTTPClient) -> AWSCredentialsProviderChain {
        AWSCredentialsProviderChain([
            EnvironmentCredentialsProvider(environment: environment),
            ContainerCredentialsProvider(environment: environment, httpClient: httpClient),
            ProfileCredentialsProvider(environment: environment),
        ])
    }

    /// - Throws: the first error other than `.notConfigured`, or `.noSourceConfigured` listing the sources tried.
    public func credentials() async throws(AWSCredentialsError) -> AWSCredentials {
        var tried: [String] = []
        for provider in self.providers {
            do throws(AWSCredentialsError) {
                return try await provider.credentials()
            } catch .notConfigured(let source) {
                tried.append(source)
            }
        }
        throw .noSourceConfigured(tried: tried)
    }
}
