import Foundation
import MeshTLS
import Testing
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Cross-checks our certificates with the system OpenSSL, when it is installed.
@Suite("OpenSSL interop", .enabled(if: FileManager.default.isExecutableFile(atPath: OpenSSL.path)))
struct OpenSSLInteropTests {
    @Test("openssl verifies a new-key leaf against the old root through the cross-signed root")
    func crossSignedChain() throws {
        let (oldRoot, oldKey) = try CARoot.makeRoot(trustDomain: Fixture.trustDomain, clusterID: Fixture.clusterID)
        let (newRoot, newKey) = try CARoot.makeRoot(trustDomain: Fixture.trustDomain, clusterID: Fixture.clusterID)
        let cross = try CARoot.crossSign(newRoot, by: oldRoot, oldKey: oldKey)
        let signer = try LeafSigner(
            signingCertificate: newRoot,
            signingKey: newKey,
            chain: [cross],
            trustDomain: Fixture.trustDomain
        )
        let (_, csr) = try KeyAndCSR.makeCSR(spiffeURI: Fixture.webURI)
        let leaf = try signer.sign(try signer.inspect(csrPEM: csr), ttl: .seconds(3600))
        let directory = try OpenSSL.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let old = try OpenSSL.write(MeshPEM.encode(oldRoot), to: "\(directory)/old.pem")
        let new = try OpenSSL.write(MeshPEM.encode(newRoot), to: "\(directory)/new.pem")
        let chain = try OpenSSL.write(leaf.chainPEM, to: "\(directory)/cross.pem")
        let leafPath = try OpenSSL.write(leaf.certificatePEM, to: "\(directory)/leaf.pem")

        let strict = ["verify", "-x509_strict", "-purpose", "sslclient"]
        let viaCross = OpenSSL.run(strict + ["-CAfile", old, "-untrusted", chain, leafPath])
        #expect(viaCross.status == 0, "\(viaCross.output)")
        #expect(viaCross.output.contains("leaf.pem: OK"))
        let direct = OpenSSL.run(strict + ["-CAfile", new, leafPath])
        #expect(direct.status == 0, "\(direct.output)")
        let withoutCross = OpenSSL.run(["verify", "-CAfile", old, leafPath])
        #expect(withoutCross.status != 0)
    }

    @Test("openssl accepts our CSRs, keys, dev certificates and computes the same SHA-1 ID")
    func artifacts() throws {
        let directory = try OpenSSL.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (key, csr) = try KeyAndCSR.makeCSR(spiffeURI: Fixture.webURI, dnsNames: ["web.local"])
        let csrPath = try OpenSSL.write(csr, to: "\(directory)/csr.pem")
        let request = OpenSSL.run(["req", "-in", csrPath, "-verify", "-noout"])
        #expect(request.status == 0, "\(request.output)")
        let keyPath = try OpenSSL.write(MeshPEM.encode(key), to: "\(directory)/key.pem")
        #expect(OpenSSL.run(["pkey", "-in", keyPath, "-noout"]).status == 0)

        let ca = try DevTLS.makeCA()
        let server = try DevTLS.issueServerCert(ca: ca.certificate, caKey: ca.privateKey)
        let caPath = try OpenSSL.write(ca.certificatePEM, to: "\(directory)/ca.pem")
        let serverPath = try OpenSSL.write(server.certificatePEM, to: "\(directory)/server.pem")
        for purpose in ["sslserver", "sslclient"] {
            let result = OpenSSL.run(["verify", "-x509_strict", "-purpose", purpose, "-CAfile", caPath, serverPath])
            #expect(result.status == 0, "\(result.output)")
        }
        let fingerprint = OpenSSL.run(["x509", "-in", caPath, "-noout", "-fingerprint", "-sha1"])
        let expected = CertificateFingerprint.consulID(of: ca.certificate)
        #expect(fingerprint.output.lowercased().contains("=\(expected)"), "\(fingerprint.output)")
    }
}

/// A tiny `posix_spawn` + `waitpid` runner (Foundation's `Process` can hang here).
enum OpenSSL {
    static let path = "/usr/bin/openssl"

    /// Runs openssl with `arguments`; returns its exit status and combined output.
    static func run(_ arguments: [String]) -> (status: Int32, output: String) {
        let outputPath = NSTemporaryDirectory() + "meshtls-openssl-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([Self.path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, Self.path, &actions, nil, argv, environ) == 0 else { return (-1, "spawn failed") }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        let status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return (status, output)
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "meshtls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ text: String, to path: String) throws -> String {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
