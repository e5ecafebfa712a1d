import Foundation
import Logging
import MeshCore
import MeshStore
import PostgresNIO

/// The catalog's PostgreSQL access: writes through the schema's functions, reads from one
/// snapshot taken after the stable index (see `IndexMigrations`).
///
/// Every write returns the index it used and publishes the topics it touched to the change
/// feed after its commit.
struct CatalogStore: Sendable {
    static let schema = CatalogMigrations.schema

    let client: PostgresClient
    let feed: ChangeFeed
    let datacenter: String
    let logger: Logger

    static let encoder = JSONEncoder()
    static let decoder = JSONDecoder()

    // MARK: Writes

    /// Registers a node, optionally an instance on it, and checks; all or nothing.
    ///
    /// Writing what is already stored changes nothing and moves no index (Consul's rule).
    func register(_ registration: Registration) async throws -> ModifyIndex {
        let query = try self.registerQuery(registration)
        return try await self.write { connection in try await connection.query(query, logger: self.logger) }
    }

    /// The call of `catalog.register` for `registration` (validated), answering its index and topics.
    func registerQuery(_ registration: Registration) throws -> PostgresQuery {
        var registration = try Self.validated(registration)
        if registration.node.datacenter.isEmpty { registration.node.datacenter = self.datacenter }
        let node = try Self.json(registration.node.normalizedForStorage)
        let service = try registration.service.map { try Self.json($0.normalizedForStorage) }
        let checks = try Self.json(registration.checks.map(\.normalizedForStorage))
        let skip = registration.skipNodeUpdate
        return """
            SELECT modify_index, topics FROM catalog.register(\(node)::jsonb, \(service)::jsonb, \
            \(checks)::jsonb, \(skip))
            """
    }

    /// Removes a node, an instance or a check. Removing what does not exist succeeds and changes nothing.
    func deregister(_ target: Deregistration) async throws -> ModifyIndex {
        let query = try Self.deregisterQuery(target)
        return try await self.write { connection in try await connection.query(query, logger: self.logger) }
    }

    /// The call of `catalog.deregister` for `target`, answering its index and topics.
    static func deregisterQuery(_ target: Deregistration) throws -> PostgresQuery {
        let (node, serviceID, checkID): (String, String, String) =
            switch target {
            case .node(let node): (node, "", "")
            case .service(let node, let serviceID): (node, serviceID, "")
            case .check(let node, let checkID): (node, "", checkID)
            }
        guard !node.isEmpty else {
            throw CatalogError.invalid(ValidationError(field: "Node", reason: "missing node name"))
        }
        return "SELECT modify_index, topics FROM catalog.deregister(\(node), \(serviceID), \(checkID))"
    }

    /// Records a TTL check's new status and restarts its TTL. `node` may be empty when the check ID
    /// is unique across nodes.
    func updateTTL(node: String, checkID: String, status: CheckStatus, output: String) async throws -> ModifyIndex {
        let rows = try await self.client.query(
            """
            SELECT modify_index, topics, outcome FROM catalog.update_ttl(\(node), \(checkID), \(status.rawValue), \
            \(output))
            """,
            logger: self.logger
        )
        for try await (index, topics, outcome) in rows.decode((Int64, [String], String).self) {
            switch outcome {
            case "unknown": throw CatalogError.unknownCheck(checkID)
            case "ambiguous": throw CatalogError.ambiguousCheck(checkID)
            case "not_ttl": throw CatalogError.notTTLCheck(checkID)
            default: break
            }
            self.feed.publish(Set(topics.map(ChangeTopic.init)), index: UInt64(index))
            return UInt64(max(index, 0))
        }
        return 0
    }

    /// Marks expired TTL checks critical and removes instances critical for longer than their
    /// `DeregisterCriticalServiceAfter`. Runs on the leader's session.
    func reapExpired(on session: PostgresConnection) async throws -> ModifyIndex {
        let rows = try await session.query(
            "SELECT modify_index, topics FROM catalog.reap_expired()",
            logger: self.logger
        )
        for try await (index, topics) in rows.decode((Int64, [String]).self) {
            self.feed.publish(Set(topics.map(ChangeTopic.init)), index: UInt64(index))
            return UInt64(index)
        }
        return 0
    }

    /// Deletes tombstones older than `age`, raising index floors so that no index moves back.
    func collectTombstones(olderThan age: Duration, on session: PostgresConnection) async throws {
        let milliseconds = age.totalMilliseconds
        try await session.query(
            "SELECT catalog.gc_tombstones(\(milliseconds) * interval '1 millisecond')",
            logger: self.logger
        )
        try await session.query(
            "SELECT catalog.gc_kv_tombstones(\(milliseconds) * interval '1 millisecond')",
            logger: self.logger
        )
    }

    /// How long until the next TTL deadline of a check or a session (nil when none is pending).
    func nextDeadline(on session: PostgresConnection) async throws -> Duration? {
        let rows = try await session.query(
            """
            SELECT (EXTRACT(EPOCH FROM (LEAST(
                (SELECT min(ttl_deadline) FROM catalog.checks WHERE ttl_deadline IS NOT NULL AND status <> 'critical'),
                (SELECT min(ttl_deadline) FROM catalog.sessions WHERE ttl_deadline IS NOT NULL)) - now())) * 1000)::bigint
            """,
            logger: self.logger
        )
        for try await milliseconds in rows.decode(Int64?.self) {
            return milliseconds.map { .milliseconds(max($0, 0)) }
        }
        return nil
    }

    private func write(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> PostgresRowSequence
    ) async throws -> ModifyIndex {
        do {
            return try await self.client.withConnection { connection in
                let rows = try await body(connection)
                for try await (index, topics) in rows.decode((Int64, [String]).self) {
                    self.feed.publish(Set(topics.map(ChangeTopic.init)), index: UInt64(max(index, 0)))
                    return UInt64(max(index, 0))
                }
                return 0
            }
        } catch let error as PSQLError {
            throw Self.mapped(error)
        }
    }

    static func mapped(_ error: PSQLError) -> any Error {
        guard let info = error.serverInfo, let state = info[.sqlState] else { return error }
        let message = info[.message] ?? "invalid request"
        switch state {
        case "MS400":
            let parts = message.split(separator: ":", maxSplits: 1)
            let field = parts.count == 2 ? String(parts[0]) : "body"
            let reason = parts.count == 2 ? parts[1].trimmingWhitespace() : message
            return CatalogError.invalid(ValidationError(field: field, reason: reason))
        case "MS422":
            return CatalogError.refused(message)
        default:
            return error
        }
    }

    static func validated(_ registration: Registration) throws -> Registration {
        do {
            return try RegistrationValidator.validate(registration)
        } catch {
            throw CatalogError.invalid(error)
        }
    }

    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try Self.encoder.encode(value), as: UTF8.self)
    }
}

/// A catalog row whose indexes live in their own columns, not in its stored JSON body.
protocol StoredRecord {
    var createIndex: ModifyIndex { get set }
    var modifyIndex: ModifyIndex { get set }
}

extension StoredRecord {
    /// The value as stored: indexes zeroed, so that an unchanged re-registration compares equal.
    var normalizedForStorage: Self {
        var copy = self
        copy.createIndex = 0
        copy.modifyIndex = 0
        return copy
    }
}

extension CatalogNode: StoredRecord {}
extension ServiceInstance: StoredRecord {}
extension HealthCheck: StoredRecord {}
