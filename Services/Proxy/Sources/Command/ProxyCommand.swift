public import ArgumentParser
import Logging
import MeshCore
import MeshProcess

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// mesh-proxy: the sidecar (public mTLS listener to the local app, local upstream listeners).
public struct ProxyCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mesh-proxy",
        abstract: "The mesh's sidecar proxy: mTLS with SPIFFE identities, intentions, load balancing.",
        subcommands: [
            RunCommand.self, StaticCommand.self, InboundCommand.self, OutboundCommand.self, HealthCommand.self,
        ],
        defaultSubcommand: RunCommand.self
    )

    public init() {}
}
