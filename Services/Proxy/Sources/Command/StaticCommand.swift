import ArgumentParser
import Logging
import MeshCore
import MeshProcess

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Runs from a bootstrap file alone (no control plane), as Envoy does with a static bootstrap.
struct StaticCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "static",
        abstract: "Run from a static bootstrap file (snapshot + certificate, key and roots files)."
    )

    @Option(help: "The bootstrap JSON file.")
    var bootstrap: String

    @Option(help: "Bind address of the public listener (default 0.0.0.0; `none` for outbound only).")
    var publicBind: String = "0.0.0.0"

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let process = try self.common.process(publicBindHost: self.publicBind == "none" ? nil : self.publicBind)
        let (snapshot, tls) = try StaticBootstrap.load(path: self.bootstrap)
        try await process.run(initial: (snapshot, tls), logger: Logger(label: "mesh-proxy"))
    }
}
