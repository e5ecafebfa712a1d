import Logging
import MeshServer
import MeshStore
import MeshStoreHost
import PostgresNIO

/// Who the replicas are and which one leads, read live from PostgreSQL (`/v1/status/*`).
///
/// Each replica names its change-feed connection `mesh-catalog <grpc address>` and its leader
/// session `mesh-catalog-leader <grpc address>`; the leader is the session holding the lock.
struct ClusterStatus: Sendable {
    let client: PostgresClient
    let schema: StoreSchema
    let logger: Logger

    var peerPrefix: String { ServiceHost.peerPrefix(of: self.schema) }
    var leaderPrefix: String { ServiceHost.leaderPrefix(of: self.schema) }

    /// The leader replica's address, or "" when none holds the lock (Consul's answer without a leader).
    func leader() async throws -> String {
        let key = self.schema.leaderLockKey
        let rows = try await self.client.query(
            """
            SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND ((l.classid::bigint << 32) | l.objid::bigint) = \(key)
            """,
            logger: self.logger
        )
        for try await name in rows.decode(String.self) {
            return String(name.dropFirst(self.leaderPrefix.count))
        }
        return ""
    }

    /// The addresses of the running replicas.
    func peers() async throws -> [String] {
        let rows = try await self.client.query(
            """
            SELECT DISTINCT application_name FROM pg_stat_activity
             WHERE datname = current_database() AND application_name LIKE \(self.peerPrefix + "%")
             ORDER BY 1
            """,
            logger: self.logger
        )
        var peers: [String] = []
        for try await name in rows.decode(String.self) { peers.append(String(name.dropFirst(self.peerPrefix.count))) }
        return peers
    }
}
