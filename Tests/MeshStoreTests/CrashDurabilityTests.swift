import Foundation
import Logging
import MeshLocal
import MeshStore
import PostgresNIO
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The PostgreSQL that `meshctl dev` and the tests run (`EphemeralPostgres`, fsync off) keeps
/// every acknowledged commit through a crash of PostgreSQL itself (an immediate shutdown:
/// SIGQUIT to the postmaster, then crash recovery at the next start), as production does. With
/// `synchronous_commit` off it acknowledged commits whose WAL was still in its buffers, and lost
/// them: the reliability harness's long run lost 20 acknowledged KV writes this way.
@Suite(.timeLimit(.minutes(2))) struct CrashDurabilityTests {
    @Test("every commit acknowledged before an immediate shutdown is there after the restart")
    func acknowledgedCommitsSurviveACrash() async throws {
        let logger = Logger(label: "test.crash")
        let postgres = try EphemeralPostgres.start(logger: logger)
        defer { postgres.stop() }
        let database = try await postgres.createDatabase(prefix: "crash", logger: logger)
        let configuration = try database.connectionConfiguration()
        let writes = 300
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        try await connection.query("CREATE TABLE acknowledged (n integer PRIMARY KEY)", logger: logger)
        for n in 0..<writes {
            // Each its own transaction, acknowledged when `query` returns.
            try await connection.query("INSERT INTO acknowledged VALUES (\(n))", logger: logger)
        }
        // At once after the last acknowledgement: no time for a background WAL flush.
        kill(postgres.pid, SIGQUIT)
        let deadline = ContinuousClock.now + .seconds(60)
        while postgres.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        try? await connection.close()
        try postgres.restart()
        let after = try await PostgresConnection.connect(configuration: configuration, id: 2, logger: logger)
        var stored = -1
        for try await count in try await after.query("SELECT count(*) FROM acknowledged", logger: logger)
            .decode(Int.self)
        {
            stored = count
        }
        try await after.close()
        #expect(stored == writes)
    }
}
