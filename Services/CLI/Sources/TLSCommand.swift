import ArgumentParser
import Foundation
import MeshNet

/// `meshctl tls create`: the control plane's TLS identities (as `consul tls ca create` and
/// `consul tls cert create -server` make Consul's), one certificate per service.
struct TLSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls",
        abstract: "Make the control plane's TLS certificates.",
        subcommands: [Create.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Make a CA and one certificate per control-plane service, each naming its service.",
            discussion: """
                Writes ca.pem, ca-key.pem and, for each of catalog-svc, ca-svc, authz-svc, \
                iam-auth-svc and config-distributor, <name>.pem, <name>-key.pem and \
                <name>-secret.json (the Secrets Manager value of its <Service>TLSSecretArn). Keys are \
                mode 0600; keep ca-key.pem offline.
                """
        )

        @Option(name: .customLong("dir"), help: "Directory to write into (created, mode 0700).")
        var directory: String = "mesh-tls"

        @Option(name: .customLong("dns"), help: "An extra DNS name in every certificate (repeatable).")
        var dnsNames: [String] = []

        @Option(name: .customLong("ip"), help: "An IP address in every certificate (repeatable).")
        var ipAddresses: [String] = []

        @Option(name: .customLong("days"), help: "Validity of the certificates, in days.")
        var days: Int = 365

        func run() async throws {
            guard self.days > 0 else { throw CLIError("--days: must be positive") }
            guard !FileManager.default.fileExists(atPath: self.directory + "/ca.pem") else {
                throw CLIError("\(self.directory)/ca.pem exists: choose another --dir")
            }
            let written = try ControlPlaneCertificates.write(
                into: self.directory,
                caName: "mesh control plane CA",
                dnsNames: self.dnsNames,
                ipAddresses: self.ipAddresses,
                validity: .seconds(self.days * 86_400),
                keepCAKey: true
            )
            for service in ControlPlaneName.allCases {
                let path = "\(self.directory)/\(service.rawValue)-secret.json"
                guard
                    FileManager.default.createFile(
                        atPath: path,
                        contents: try written.secretJSON(for: service),
                        attributes: [.posixPermissions: 0o600]
                    )
                else { throw CLIError("cannot write \(path)") }
            }
            print("wrote \(written.caPath), \(written.caKeyPath) and a certificate per service in \(self.directory)")
        }
    }
}
