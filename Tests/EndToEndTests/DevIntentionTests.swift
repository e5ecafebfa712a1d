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
        /// Runs meshctl with `arguments` against `address`; returns its exit status and output.
        static func meshctl(_ arguments: [String], address: String, token: String?) async throws -> (Int32, String) {
            try await RunningDev.run(
                "meshctl",
                arguments,
                environment: ["CONSUL_HTTP_ADDR": address, "CONSUL_HTTP_TOKEN": token]
            )
        }

        @Test("an exact deny beats the wildcard allow, and deleting it restores access; no token, no write")
        func intentions() async throws {
            let token = UUID().uuidString.lowercased()
            try await RunningDev.with(token: token) { dev in
                let address = dev.address
                let anonymous = try await Self.meshctl(
                    ["intention", "create", "*", "web"],
                    address: address,
                    token: nil
                )
                #expect(anonymous.0 == 1)
                #expect(anonymous.1.contains("Permission denied"))

                let wildcard = try await Self.meshctl(
                    ["intention", "create", "*", "web"],
                    address: address,
                    token: token
                )
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
}
