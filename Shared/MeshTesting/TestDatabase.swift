import Foundation
public import Logging
public import MeshStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The one PostgreSQL cluster of a test process, started on first use and stopped at exit.
///
/// Each test asks for a fresh database (`TestDatabase.fresh()`), so tests never see each
/// other's rows and may run in parallel.
public enum TestDatabase {
    private static let cluster = Mutex<Result<EphemeralPostgres, any Error>?>(nil)

    /// The shared cluster, started on first use.
    public static func shared() throws -> EphemeralPostgres {
        try self.cluster.withLock { cluster in
            if let cluster { return try cluster.get() }
            let result = Result { try EphemeralPostgres.start(logger: Logger(label: "mesh.test.postgres")) }
            cluster = result
            if case .success = result {
                atexit { TestDatabase.stopAtExit() }
            }
            return try result.get()
        }
    }

    /// A new, empty database in the shared cluster.
    public static func fresh(logger: Logger = Logger(label: "mesh.test")) async throws -> DatabaseSettings {
        try await self.shared().createDatabase(logger: logger)
    }

    private static func stopAtExit() {
        let running = self.cluster.withLock { cluster -> EphemeralPostgres? in
            guard case .success(let postgres) = cluster else { return nil }
            return postgres
        }
        running?.stop()
    }
}
