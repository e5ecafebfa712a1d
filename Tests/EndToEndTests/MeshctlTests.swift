import Foundation
import MeshTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built executables, next to the test bundle.
func builtExecutable(_ name: String) -> String {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    return name
}

@Suite("meshctl")
struct MeshctlTests {
    @Test("an unreachable API gives one clear error line and exit status 1")
    func unreachable() async throws {
        let port = try FreePort.pick()
        let output = NSTemporaryDirectory() + "meshctl-\(getpid())-\(port).log"
        defer { unlink(output) }
        let child = try Spawned.launch(
            builtExecutable("meshctl"),
            ["catalog", "services", "-http-addr", "127.0.0.1:\(port)"],
            outputPath: output
        )
        let status = try await child.waitForExit()
        #expect(status == 1)
        let text = try String(contentsOfFile: output, encoding: .utf8)
        #expect(text.hasPrefix("Error: cannot reach http://127.0.0.1:\(port)"))
        #expect(text.split(separator: "\n").count == 1)
    }

    @Test("config-distributor and mesh-proxy refuse missing settings, naming them")
    func missingSettings() async throws {
        let cases: [(String, [String], String)] = [
            ("config-distributor", [], "--catalog-addr / MESH_CATALOG_ADDR"),
            ("mesh-proxy", ["run"], "--distributor-addr / MESH_DISTRIBUTOR_ADDR"),
            ("mesh-proxy", ["run", "--distributor-addr", "nowhere"], "--distributor-addr: expected host:port"),
        ]
        for (name, arguments, expected) in cases {
            let (status, output) = try await RunningDev.run(
                name,
                arguments,
                environment: ["MESH_CATALOG_ADDR": nil, "MESH_DISTRIBUTOR_ADDR": nil, "MESH_PROXY_BOOTSTRAP": nil]
            )
            #expect(status != 0, "\(name) \(arguments)")
            #expect(output.contains(expected), "\(name) \(arguments): \(output)")
        }
    }
}
