import AWS
import Foundation
import MeshTesting
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Signs the STS `GetCallerIdentity` request that `botocore_sign.py` signs with botocore, and compares.
///
/// The AWS test suite only uses the made-up service `service`; this checks a real service's request (form body,
/// content type, session token) against the reference SDK. It needs `python3` with botocore, so it is skipped
/// where that is missing. Nothing goes over the network: both sides only compute.
@Suite("SigV4 cross-check with botocore")
struct BotocoreCrossCheckTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    /// Whether `python3 -c "import botocore"` succeeds; evaluated once, when the suite's traits are.
    static let botocoreAvailable: Bool = {
        guard let python = Spawned.which("python3"),
            let result = try? Spawned.capture(python, ["-c", "import botocore"])
        else {
            return false
        }
        return result.status == 0
    }()

    /// What `botocore_sign.py` prints.
    struct BotocoreOutput: Decodable {
        var authorization: String
        var canonical_request: String
        var string_to_sign: String
    }

    @Test(
        "STS GetCallerIdentity is signed exactly as botocore signs it",
        .enabled(if: Self.botocoreAvailable, "python3 with botocore is not installed")
    )
    func getCallerIdentity() throws {
        let script = Self.directory.appendingPathComponent("botocore_sign.py").path
        let result = try Spawned.capture(try #require(Spawned.which("python3")), [script])
        try #require(result.status == 0, "botocore_sign.py failed: \(result.output)")
        let botocore = try JSONDecoder().decode(BotocoreOutput.self, from: Data(result.output.utf8))

        let url = try #require(URL(string: "https://sts.us-east-1.amazonaws.com/"))
        let request = try #require(
            AWSRequest(
                method: "POST",
                url: url,
                headers: [(name: "Content-Type", value: "application/x-www-form-urlencoded; charset=utf-8")],
                body: Array("Action=GetCallerIdentity&Version=2011-06-15".utf8)
            )
        )
        let signer = SigV4Signer(
            credentials: AWSCredentials(
                accessKeyID: "AKIDEXAMPLE",
                secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                sessionToken: "FwoGZXIvYXdzEXAMPLE//////////wEaDEXAMPLEtoken+with/slashes+and=="
            ),
            region: "us-east-1",
            service: "sts"
        )
        // 2026-11-25T09:05:07Z, the instant frozen in botocore_sign.py.
        let signed = try signer.sign(request, date: Date(timeIntervalSince1970: 1_795_597_507))

        #expect(signed.canonicalRequest == botocore.canonical_request)
        #expect(signed.stringToSign == botocore.string_to_sign)
        #expect(signed.authorization == botocore.authorization)
    }
}
