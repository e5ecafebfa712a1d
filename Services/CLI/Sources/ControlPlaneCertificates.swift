import Foundation
import MeshNet
import MeshServer
import MeshTLS

/// A CA and one certificate per control-plane service, as files in one directory: `ca.pem`
/// (and `ca-key.pem`, mode 0600, when the CA is kept), and for each service `<name>.pem` and
/// `<name>-key.pem` (mode 0600). Each certificate names its service (``ControlPlaneName``) as a
/// DNS name, plus the names and addresses given (the REST listener's names).
struct ControlPlaneCertificates {
    let directory: String

    var caPath: String { self.directory + "/ca.pem" }
    var caKeyPath: String { self.directory + "/ca-key.pem" }

    /// The files `service` runs with.
    func files(for service: ControlPlaneName) -> TLSFiles {
        TLSFiles(
            certificatePath: "\(self.directory)/\(service.rawValue).pem",
            keyPath: "\(self.directory)/\(service.rawValue)-key.pem",
            caPath: self.caPath
        )
    }

    /// Makes a CA and the five certificates.
    static func write(
        into directory: String,
        caName: String,
        dnsNames: [String],
        ipAddresses: [String],
        validity: Duration = DevTLS.defaultValidity,
        keepCAKey: Bool
    ) throws -> ControlPlaneCertificates {
        try FileManager.default.createDirectory(
            atPath: directory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let written = ControlPlaneCertificates(directory: directory)
        let authority = try DevTLS.makeCA(name: caName, validity: validity)
        try authority.certificatePEM.write(toFile: written.caPath, atomically: true, encoding: .utf8)
        if keepCAKey { try Self.writePrivate(authority.privateKeyPEM, to: written.caKeyPath) }
        for service in ControlPlaneName.allCases {
            let identity = try DevTLS.issueServerCert(
                ca: authority.certificate,
                caKey: authority.privateKey,
                dnsNames: [service.rawValue] + dnsNames,
                ipAddresses: ipAddresses,
                validity: validity
            )
            let files = written.files(for: service)
            try identity.certificatePEM.write(toFile: files.certificatePath, atomically: true, encoding: .utf8)
            try Self.writePrivate(identity.privateKeyPEM, to: files.keyPath)
        }
        return written
    }

    /// The Secrets Manager form of `service`'s identity: JSON with `cert`, `key` and `ca` (PEM),
    /// as the ECS template's `<Service>TLSSecretArn` parameters expect.
    func secretJSON(for service: ControlPlaneName) throws -> Data {
        let files = self.files(for: service)
        let object = [
            "cert": try String(contentsOfFile: files.certificatePath, encoding: .utf8),
            "key": try String(contentsOfFile: files.keyPath, encoding: .utf8),
            "ca": try String(contentsOfFile: files.caPath, encoding: .utf8),
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    private static func writePrivate(_ text: String, to path: String) throws {
        guard
            FileManager.default.createFile(
                atPath: path,
                contents: Data(text.utf8),
                attributes: [.posixPermissions: 0o600]
            )
        else { throw CLIError("cannot write \(path)") }
    }
}
