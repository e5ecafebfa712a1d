import Foundation
import MeshCore
import MeshStore
import PostgresNIO

/// What a session read selects.
enum SessionQuery: Sendable, Hashable {
    case all
    case node(String)
    case id(String)
}

extension CatalogStore {
    /// The topic every session change is announced on.
    static let sessionsTopic = ChangeTopic("sessions")

    /// Creates `session` (see `catalog.session_create`); returns its index.
    @discardableResult
    func createSession(_ session: Session) async throws -> ModifyIndex {
        let ttlMilliseconds = session.ttlDuration?.totalMilliseconds
        do {
            let index: Int64 = try await self.client.withConnection { connection in
                let rows = try await connection.query(
                    """
                    SELECT catalog.session_create(\(session.id), \(session.name), \(session.node), \
                    \(session.nodeChecks), \(session.serviceChecks), \(session.lockDelay.totalMilliseconds), \
                    \(session.behavior.rawValue), \(session.ttl), \(ttlMilliseconds))
                    """,
                    logger: self.logger
                )
                for try await index in rows.decode(Int64.self) { return index }
                return 0
            }
            self.feed.publish([Self.sessionsTopic], index: UInt64(index))
            return UInt64(index)
        } catch let error as PSQLError {
            throw Self.mapped(error)
        }
    }

    /// Destroys a session: its locks are released (or its keys deleted) and held back for its
    /// lock-delay. Destroying one that does not exist succeeds and changes nothing.
    func destroySession(_ id: String) async throws {
        try await self.endSessions("SELECT modify_index, keys FROM catalog.session_destroy(\(id))", on: nil)
    }

    /// Ends the sessions whose TTL lapsed. Runs on the leader's session.
    func expireSessions(on session: PostgresConnection) async throws {
        try await self.endSessions("SELECT modify_index, keys FROM catalog.sessions_expire()", on: session)
    }

    private func endSessions(_ query: PostgresQuery, on session: PostgresConnection?) async throws {
        let run: @Sendable (PostgresConnection) async throws -> Void = { connection in
            for try await (index, keys) in try await connection.query(query, logger: self.logger)
                .decode((Int64, [String]).self) where index > 0
            {
                self.feed.publish(KVKeys.topics(of: keys).union([Self.sessionsTopic]), index: UInt64(index))
            }
        }
        if let session { try await run(session) } else { try await self.client.withConnection(run) }
    }

    /// Restarts a session's TTL (it lapses after twice the TTL, as in Consul); the session as
    /// it is now. Throws `unknownSession` when it does not exist.
    func renewSession(_ id: String) async throws -> Session {
        let rows = try await self.client.query(
            """
            UPDATE catalog.sessions SET ttl_deadline = now() + 2 * ttl_ms * interval '1 millisecond' \
            WHERE id = \(id) RETURNING \(unescaped: Self.sessionColumns)
            """,
            logger: self.logger
        )
        for try await row in rows.decode(SessionRow.self) { return Self.session(row) }
        throw CatalogError.unknownSession(id)
    }

    /// Reads sessions from one snapshot; the index is the highest of any session change.
    func sessions(_ query: SessionQuery) async throws -> Indexed<[Session]> {
        try await self.client.withSnapshot(of: Self.schema, logger: self.logger) { connection, stable in
            let condition: PostgresQuery? =
                switch query {
                case .all: nil
                case .node(let node): "node = \(node)"
                case .id(let id): "id = \(id)"
                }
            var sessions: [Session] = []
            let rows = try await connection.query(
                .select(Self.sessionColumns, from: "catalog.sessions", where: condition, orderBy: "id"),
                logger: self.logger
            )
            for try await row in rows.decode(SessionRow.self) { sessions.append(Self.session(row)) }
            var index: ModifyIndex = 0
            let indexRows = try await connection.query(
                """
                SELECT GREATEST((SELECT COALESCE(max(modify_index), 0) FROM catalog.sessions), \
                (SELECT COALESCE(max(modify_index), 0) FROM catalog.index_floors WHERE topic = 'sessions'))
                """,
                logger: self.logger
            )
            for try await value in indexRows.decode(Int64.self) { index = UInt64(max(value, 0)) }
            return Indexed(sessions, resultIndex: index, stable: stable)
        }
    }

    private typealias SessionRow = (String, String, String, [String], [String], Int64, String, String, Int64, Int64)

    private static let sessionColumns =
        "id, name, node, node_checks, service_checks, lock_delay_ms, behavior, ttl, create_index, modify_index"

    private static func session(_ row: SessionRow) -> Session {
        Session(
            id: row.0,
            name: row.1,
            node: row.2,
            nodeChecks: row.3,
            serviceChecks: row.4,
            lockDelay: .milliseconds(row.5),
            behavior: Session.Behavior(rawValue: row.6) ?? .release,
            ttl: row.7,
            createIndex: UInt64(row.8),
            modifyIndex: UInt64(row.9)
        )
    }
}
