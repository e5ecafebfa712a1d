import Foundation
import MeshTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `meshctl dev` as a user runs it, driven by `meshctl intention` as a user types it.
extension DevTests {
    @Suite("meshctl dev with intentions")
    struct Intentions {
        /// Runs meshctl with `arguments`; returns its exit status and output.
        static func meshctl(_ arguments: [String], address: String, token: String?) async throws -> (Int32, String) {
            let output = NSTemporaryDirectory() + "meshctl-run-\(UInt32.random(in: 0...UInt32.max)).log"
            defer { unlink(output) }
            var environment = ProcessInfo.processInfo.environment
            environment["CONSUL_HTTP_ADDR"] = address
            environment["CONSUL_HTTP_TOKEN"] = token
            let child = try Spawned.launch(
                builtExecutable("meshctl"),
                arguments,
                environment: environment,
                outputPath: output
            )
            let status = try await child.waitForExit()
            return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
        }

        @Test("an exact deny beats the wildcard allow, and deleting it restores access; no token, no write")
        func intentions() async throws {
            let port = try FreePort.pick()
            let address = "127.0.0.1:\(port)"
            let token = UUID().uuidString.lowercased()
            let log = NSTemporaryDirectory() + "meshctl-dev-\(port).log"
            defer { unlink(log) }
            let dev = try Spawned.launch(
                builtExecutable("meshctl"),
                ["dev", "--http-addr", address, "--initial-management-token", token],
                outputPath: log
            )
            defer { dev.stop() }
            let deadline = ContinuousClock.now + .seconds(120)
            while !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("ready: Consul-compatible API")
            {
                guard dev.isRunning, ContinuousClock.now < deadline else {
                    throw TestFailure(
                        "meshctl dev did not become ready: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")"
                    )
                }
                try await Task.sleep(for: .milliseconds(100))
            }

            let anonymous = try await Self.meshctl(["intention", "create", "*", "web"], address: address, token: nil)
            #expect(anonymous.0 == 1)
            #expect(anonymous.1.contains("Permission denied"))

            let wildcard = try await Self.meshctl(["intention", "create", "*", "web"], address: address, token: token)
            #expect(wildcard.0 == 0)
            #expect(wildcard.1.contains("Created: * => web (allow)"))
            let deny = try await Self.meshctl(
                ["intention", "create", "-deny", "client", "web"],
                address: address,
                token: token
            )
            #expect(deny.0 == 0)

            let denied = try await Self.meshctl(
                ["intention", "check", "client", "web"],
                address: address,
                token: token
            )
            #expect(denied.0 == 1)
            #expect(denied.1.trimmingCharacters(in: .whitespacesAndNewlines) == "Denied")
            let list = try await Self.meshctl(["intention", "list"], address: address, token: token)
            #expect(list.1.contains("client") && list.1.contains("Precedence"))

            let deleted = try await Self.meshctl(
                ["intention", "delete", "client", "web"],
                address: address,
                token: token
            )
            #expect(deleted.1.contains("Intention deleted."))
            let allowed = try await Self.meshctl(
                ["intention", "check", "client", "web"],
                address: address,
                token: token
            )
            #expect(allowed.0 == 0)
            #expect(allowed.1.trimmingCharacters(in: .whitespacesAndNewlines) == "Allowed")
        }
    }
}
