import ArgumentParser
import Foundation
import MeshTesting
import Testing

@testable import CLI

@Suite("meshctl tls create")
struct TLSCommandTests {
    @Test("a CA and one certificate per service, each naming its service, verified by openssl; keys private")
    func createsOnePerService() async throws {
        let directory = NSTemporaryDirectory() + "mesh-tls-create-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let command = try TLSCommand.Create.parse(["--dir", directory, "--dns", "mesh.internal", "--days", "30"])
        try await command.run()
        let openssl = try #require(Spawned.which("openssl"))
        for name in ["catalog-svc", "ca-svc", "authz-svc", "iam-auth-svc", "config-distributor"] {
            let certificate = "\(directory)/\(name).pem"
            let verify = try Spawned.capture(openssl, ["verify", "-CAfile", "\(directory)/ca.pem", certificate])
            #expect(verify.status == 0, "\(verify.output)")
            let text = try Spawned.capture(openssl, ["x509", "-in", certificate, "-noout", "-ext", "subjectAltName"])
            #expect(text.output.contains("DNS:\(name)"), "\(text.output)")
            #expect(text.output.contains("DNS:mesh.internal"))
            // Only its own service's name: one certificate cannot pose as another service.
            for other in ["catalog-svc", "ca-svc", "authz-svc", "iam-auth-svc", "config-distributor"]
            where other != name {
                #expect(!text.output.contains("DNS:\(other)\n") && !text.output.contains("DNS:\(other),"))
            }
            let key = try FileManager.default.attributesOfItem(atPath: "\(directory)/\(name)-key.pem")
            #expect(key[.posixPermissions] as? Int == 0o600)
            let secret = try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)-secret.json"))
            )
            let fields = try #require(secret as? [String: String])
            #expect(fields["cert"] == (try String(contentsOfFile: certificate, encoding: .utf8)))
            #expect(fields["ca"] == (try String(contentsOfFile: "\(directory)/ca.pem", encoding: .utf8)))
            #expect(fields["key"]?.contains("PRIVATE KEY") == true)
        }
        let caKey = try FileManager.default.attributesOfItem(atPath: "\(directory)/ca-key.pem")
        #expect(caKey[.posixPermissions] as? Int == 0o600)
        // Never over an existing CA.
        let again = try TLSCommand.Create.parse(["--dir", directory])
        await #expect(throws: CLIError.self) { try await again.run() }
    }
}
