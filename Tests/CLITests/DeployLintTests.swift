import Foundation
import MeshTesting
import Testing

/// The deployment files pass their linters (hadolint for Dockerfiles, cfn-lint for templates).
@Suite("deploy/ lint")
struct DeployLintTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Files under deploy/ whose name satisfies `matches`.
    static func files(_ matches: (String) -> Bool) -> [String] {
        let deploy = Self.root.appendingPathComponent("deploy").path
        let names = FileManager.default.subpaths(atPath: deploy) ?? []
        return names.filter { matches(($0 as NSString).lastPathComponent) }.map { "\(deploy)/\($0)" }.sorted()
    }

    @Test(
        "every Dockerfile passes hadolint",
        .enabled(if: Spawned.which("hadolint") != nil, "hadolint is not installed")
    )
    func dockerfiles() throws {
        let dockerfiles = Self.files { $0 == "Dockerfile" || $0.hasPrefix("Dockerfile.") }
        #expect(!dockerfiles.isEmpty)
        let hadolint = try #require(Spawned.which("hadolint"))
        for file in dockerfiles {
            let result = try Spawned.capture(hadolint, [file])
            #expect(result.status == 0, "\(file): \(result.output)")
        }
    }
}
