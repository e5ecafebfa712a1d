import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import MeshClient
import MeshCore
import MeshProcess

/// How `init` gets its token: a login with an aws-iam auth method, or a given token.
struct LoginOptions: ParsableArguments {
    @Option(name: .customLong("auth-method"), help: "Log in with this aws-iam auth method.")
    var authMethod: String?

    @Option(name: .customLong("token"), help: "Use this token instead of logging in (env CONSUL_HTTP_TOKEN).")
    var token: String?

    @Option(name: .customLong("aws-region"), help: "Region for STS (env AWS_REGION).")
    var awsRegion: String?

    @Option(name: .customLong("aws-sts-endpoint"), help: "The auth method's STSEndpoint, if not AWS's.")
    var stsEndpoint: String?

    @Option(name: .customLong("aws-iam-endpoint"), help: "The auth method's IAMEndpoint, if not AWS's.")
    var iamEndpoint: String?

    @Flag(name: .customLong("aws-include-entity"), help: "Embed the signed iam:GetRole (EnableIAMEntityDetails).")
    var includeEntity = false

    @Option(name: .customLong("aws-server-id-header-value"), help: "The auth method's ServerIDHeaderValue.")
    var serverIDHeaderValue: String?

    /// Logs in (or takes the given token), writes the token file, and registers the instance.
    func initialize(_ instance: InstanceOptions, agent: Agent, environment: [String: String]) async throws {
        let token: String
        if let method = self.authMethod {
            let options = IAMLoginOptions(
                region: self.awsRegion ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1",
                stsEndpoint: self.stsEndpoint.flatMap(URL.init(string:)),
                iamEndpoint: self.iamEndpoint.flatMap(URL.init(string:)),
                includeEntity: self.includeEntity,
                serverIDHeaderValue: self.serverIDHeaderValue
            )
            token = try await agent.login(
                method: method,
                options: options,
                environment: environment,
                httpClient: .shared
            )
        } else if let given = self.token ?? environment["CONSUL_HTTP_TOKEN"] {
            token = given
        } else {
            throw ValidationError("give --auth-method to log in, or --token")
        }
        // The secret is written before registering, so that `run` can always clean up after us.
        guard
            FileManager.default.createFile(
                atPath: instance.tokenFile,
                contents: Data(token.utf8),
                attributes: [.posixPermissions: 0o600]
            )
        else {
            throw AgentError("cannot write the token file \(instance.tokenFile)")
        }
        let registered = try instance.instance(task: try await instance.task(environment))
        if let path = instance.proxyBootstrapFile {
            guard let bootstrap = instance.proxyBootstrap(for: registered) else {
                throw ValidationError("--proxy-bootstrap-file needs --distributor-addr")
            }
            guard FileManager.default.createFile(atPath: path, contents: bootstrap) else {
                throw AgentError("cannot write the proxy bootstrap file \(path)")
            }
        }
        try await agent.register(registered, token: token)
    }
}
