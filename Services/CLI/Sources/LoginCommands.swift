import ArgumentParser
import AsyncHTTPClient
import Foundation
import MeshClient

/// `meshctl login`: exchange the caller's AWS identity for a mesh token, like `consul login -type aws-iam`.
/// The token's secret goes to `-token-sink-file` (mode 0600), never to the terminal.
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Log in with an auth method (aws-iam) and write the token to a file."
    )

    @OptionGroup var api: APIOptions

    @Option(name: .customLong("type", withSingleDash: true), help: "Auth method type (aws-iam).")
    var type: String = "aws-iam"

    @Option(name: .customLong("method", withSingleDash: true), help: "Name of the auth method.")
    var method: String

    @Option(name: .customLong("token-sink-file", withSingleDash: true), help: "Where to write the token's secret.")
    var tokenSinkFile: String

    @Option(name: .customLong("meta", withSingleDash: true), help: "key=value stored with the token (repeatable).")
    var meta: [String] = []

    @OptionGroup var aws: AWSLoginOptions

    func run() async throws {
        guard self.type == "aws-iam" else { throw CLIError("unsupported -type \(self.type): only aws-iam") }
        var meta: [String: String] = [:]
        for pair in self.meta {
            guard let equals = pair.firstIndex(of: "=") else { throw CLIError("-meta \(pair): expected key=value") }
            meta[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        let environment = ProcessInfo.processInfo.environment
        let bearer: String
        do {
            bearer = try await self.aws.options.bearerToken(environment: environment, httpClient: .shared)
        } catch {
            throw CLIError("cannot sign the AWS login request: \(error)")
        }
        let token: ConsulAPI.LoginToken
        do {
            token = try await ConsulAPI(address: self.api.baseURL).login(
                method: self.method,
                bearerToken: bearer,
                meta: meta
            )
        } catch {
            throw CLIError("login failed: \(error)")
        }
        try TokenFile.write(token.SecretID, to: self.tokenSinkFile)
    }
}

/// `meshctl logout`: end a token made by `login` (the token given with -token, -token-file or CONSUL_HTTP_TOKEN).
struct LogoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logout",
        abstract: "Destroy a token created by login."
    )

    @OptionGroup var api: APIOptions

    @Option(name: .customLong("token-file", withSingleDash: true), help: "File holding the token to log out.")
    var tokenFile: String?

    func run() async throws {
        var token = self.api.token ?? ProcessInfo.processInfo.environment["CONSUL_HTTP_TOKEN"]
        if let path = self.tokenFile {
            token = try TokenFile.read(path)
        }
        guard let token, !token.isEmpty else { throw CLIError("no token to log out: give -token or -token-file") }
        do {
            try await ConsulAPI(address: self.api.baseURL, token: token).logout()
        } catch {
            throw CLIError("logout failed: \(error)")
        }
    }
}

/// The `-aws-*` options of `consul login`.
struct AWSLoginOptions: ParsableArguments {
    @Option(name: .customLong("aws-region", withSingleDash: true), help: "Region for STS (env AWS_REGION).")
    var region: String?

    @Option(
        name: .customLong("aws-sts-endpoint", withSingleDash: true),
        help: "STS endpoint the request is signed for."
    )
    var stsEndpoint: String?

    @Option(name: .customLong("aws-iam-endpoint", withSingleDash: true), help: "IAM endpoint of the entity request.")
    var iamEndpoint: String?

    @Flag(name: .customLong("aws-include-entity", withSingleDash: true), help: "Embed the signed iam:GetRole.")
    var includeEntity = false

    @Option(name: .customLong("aws-server-id-header-value", withSingleDash: true), help: "The method's server ID.")
    var serverIDHeaderValue: String?

    var options: IAMLoginOptions {
        let environment = ProcessInfo.processInfo.environment
        return IAMLoginOptions(
            region: self.region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1",
            stsEndpoint: self.stsEndpoint.flatMap(URL.init(string:)),
            iamEndpoint: self.iamEndpoint.flatMap(URL.init(string:)),
            includeEntity: self.includeEntity,
            serverIDHeaderValue: self.serverIDHeaderValue
        )
    }
}

/// A token's secret in a file only its owner can read.
enum TokenFile {
    static func write(_ secret: String, to path: String) throws {
        let created = FileManager.default.createFile(
            atPath: path,
            contents: Data(secret.utf8),
            attributes: [.posixPermissions: 0o600]
        )
        guard created else { throw CLIError("cannot write the token to \(path)") }
    }

    static func read(_ path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CLIError("cannot read the token file \(path)")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
