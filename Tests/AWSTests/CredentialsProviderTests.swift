import AWS
import Foundation
import Testing

@Suite("Credentials providers (environment, profile file, chain)")
struct CredentialsProviderTests {
    @Test("environment: keys and token are read; absent is notConfigured; half is incomplete")
    func environment() async throws {
        let full = EnvironmentCredentialsProvider(environment: [
            "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token",
        ])
        let credentials = try await full.credentials()
        #expect(credentials == AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret", sessionToken: "token"))

        await #expect(throws: AWSCredentialsError.notConfigured(source: "environment")) {
            try await EnvironmentCredentialsProvider(environment: [:]).credentials()
        }
        await #expect(throws: AWSCredentialsError.incomplete(source: "environment", missing: "AWS_SECRET_ACCESS_KEY")) {
            try await EnvironmentCredentialsProvider(environment: ["AWS_ACCESS_KEY_ID": "AKID"]).credentials()
        }
    }

    @Test("profile file: AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE, comments and [profile x] headers")
    func profileFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/credentials"
        try """
        # comment
        [default]
        aws_access_key_id = AKIDDEFAULT
        aws_secret_access_key = s#cret ; trailing comment

        [profile ops]
        AWS_ACCESS_KEY_ID=AKIDOPS
        aws_secret_access_key=opssecret
        aws_session_token = opstoken
        [broken]
        aws_access_key_id = AKIDBROKEN
        """.write(toFile: path, atomically: true, encoding: .utf8)

        let byDefault = try await ProfileCredentialsProvider(environment: ["AWS_SHARED_CREDENTIALS_FILE": path])
            .credentials()
        #expect(byDefault == AWSCredentials(accessKeyID: "AKIDDEFAULT", secretAccessKey: "s#cret"))

        let ops = try await ProfileCredentialsProvider(
            environment: ["AWS_SHARED_CREDENTIALS_FILE": path, "AWS_PROFILE": "ops"]
        ).credentials()
        #expect(ops == AWSCredentials(accessKeyID: "AKIDOPS", secretAccessKey: "opssecret", sessionToken: "opstoken"))

        await #expect(throws: AWSCredentialsError.profileNotFound(profile: "nope", path: path)) {
            try await ProfileCredentialsProvider(environment: ["AWS_SHARED_CREDENTIALS_FILE": path], profile: "nope")
                .credentials()
        }
        let brokenSource = "profile 'broken' in \(path)"
        await #expect(throws: AWSCredentialsError.incomplete(source: brokenSource, missing: "aws_secret_access_key")) {
            try await ProfileCredentialsProvider(environment: ["AWS_SHARED_CREDENTIALS_FILE": path], profile: "broken")
                .credentials()
        }
    }

    @Test("profile file: defaults to $HOME/.aws/credentials; a missing file is notConfigured")
    func profileFileUnderHome() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let provider = ProfileCredentialsProvider(environment: ["HOME": directory.path])
        #expect(provider.filePath == directory.path + "/.aws/credentials")
        await #expect(throws: AWSCredentialsError.notConfigured(source: "profile file")) {
            try await provider.credentials()
        }
        try FileManager.default.createDirectory(atPath: directory.path + "/.aws", withIntermediateDirectories: true)
        try "[default]\naws_access_key_id=A\naws_secret_access_key=B\n"
            .write(toFile: directory.path + "/.aws/credentials", atomically: true, encoding: .utf8)
        #expect(try await provider.credentials() == AWSCredentials(accessKeyID: "A", secretAccessKey: "B"))
    }

    @Test("chain: env wins, unconfigured sources are skipped, configured-but-broken ones stop the chain")
    func chain() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/credentials"
        try "[default]\naws_access_key_id=FILE\naws_secret_access_key=filesecret\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let environment = ["AWS_SHARED_CREDENTIALS_FILE": path]
        let profileOnly = AWSCredentialsProviderChain([
            EnvironmentCredentialsProvider(environment: environment),
            ProfileCredentialsProvider(environment: environment),
        ])
        #expect(try await profileOnly.credentials().accessKeyID == "FILE")

        var withEnv = environment
        withEnv["AWS_ACCESS_KEY_ID"] = "ENV"
        withEnv["AWS_SECRET_ACCESS_KEY"] = "envsecret"
        let envFirst = AWSCredentialsProviderChain([
            EnvironmentCredentialsProvider(environment: withEnv),
            ProfileCredentialsProvider(environment: withEnv),
        ])
        #expect(try await envFirst.credentials().accessKeyID == "ENV")

        let nothing = AWSCredentialsProviderChain([
            EnvironmentCredentialsProvider(environment: [:]),
            ProfileCredentialsProvider(environment: [:]),
        ])
        await #expect(throws: AWSCredentialsError.noSourceConfigured(tried: ["environment", "profile file"])) {
            try await nothing.credentials()
        }

        let brokenEnv = AWSCredentialsProviderChain([
            EnvironmentCredentialsProvider(environment: ["AWS_ACCESS_KEY_ID": "ENV"]),
            ProfileCredentialsProvider(environment: environment),
        ])
        await #expect(throws: AWSCredentialsError.incomplete(source: "environment", missing: "AWS_SECRET_ACCESS_KEY")) {
            try await brokenEnv.credentials()
        }
    }

    @Test("descriptions never contain the secret or token")
    func redaction() {
        let credentials = AWSCredentials(accessKeyID: "AKID", secretAccessKey: "topsecret", sessionToken: "tok3n")
        #expect(!credentials.description.contains("topsecret"))
        #expect(!credentials.description.contains("tok3n"))
    }
}

/// A fresh directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        self.path = FileManager.default.temporaryDirectory.appendingPathComponent("aws-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}
