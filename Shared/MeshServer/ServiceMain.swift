import ArgumentParser
import Foundation
public import Logging
import MeshRPC
public import ServiceLifecycle
import UnixSignals

/// What every service's `main` does once its flags are parsed: logging from the environment
/// (`MESH_LOG_LEVEL`), the config resolved from flags and `MESH_*` variables (a bad or missing
/// setting is a usage error naming the flag and the variable), then the service's lifecycle
/// services run until SIGTERM or SIGINT starts a graceful shutdown.
public enum ServiceMain {
    public static func run<Config>(
        _ name: String,
        config resolve: ([String: String]) throws -> Config,
        services: (Config, Logger) throws -> [any Service]
    ) async throws {
        let environment = ProcessInfo.processInfo.environment
        MeshLogging.bootstrap(environment: environment)
        let logger = Logger(label: name)
        let config: Config
        do {
            config = try resolve(environment)
        } catch {
            throw ValidationError("\(error)")
        }
        logger.info("\(name) starting")
        let group = ServiceGroup(
            configuration: .init(
                services: try services(config, logger),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}
