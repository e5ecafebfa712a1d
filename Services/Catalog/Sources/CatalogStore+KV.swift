import Foundation
import MeshCore
import MeshStore
import PostgresNIO

/// What a KV read selects.
enum KVQuery: Sendable, Hashable {
    /// One key.
    case key(String)
    /// Every key under a prefix.
    case prefix(String)

    /// The change-feed topic whose changes can change the result.
    var topic: ChangeTopic {
        switch self {
        case .key(let key): KVKeys.keyTopic(key)
        case .prefix(let prefix): KVKeys.prefixTopic(prefix)
        }
    }
}

extension CatalogStore {
    /// Reads from one snapshot (`values: false` when only the keys are wanted). The index is
    /// Consul's: an existing key's ModifyIndex; the prefix's highest, deletions included; for a
    /// missing key or a prefix with nothing ever under it, the stable index. It never passes
    /// the stable index.
    func kv(_ query: KVQuery, values: Bool = true) async throws -> Indexed<[KVEntry]> {
        try await self.client.withSnapshot(of: Self.schema, logger: self.logger) { connection, stable in
            let entries = try await self.kvEntries(query, values: values, on: connection)
            var index: ModifyIndex
            switch query {
            case .key where !entries.isEmpty:
                index = entries[0].modifyIndex
            case .key:
                index = 0
            case .prefix(let prefix):
                index = try await self.kvPrefixIndex(prefix, on: connection)
            }
            // Nothing there: Consul answers its KV table's index; ours is the stable index,
            // which is at least that (and moves with the catalog too: a blocking reader of a
            // missing key may return once more without news, as Consul's does on other keys).
            return Indexed(entries, resultIndex: index == 0 ? stable : index, stable: stable)
        }
    }

    /// The entries `query` selects, in key order, read on `connection`.
    func kvEntries(_ query: KVQuery, values: Bool, on connection: PostgresConnection) async throws -> [KVEntry] {
        let condition: PostgresQuery =
            switch query {
            case .key(let key): "key = \(key)"
            case .prefix(let prefix): "key LIKE catalog.kv_like(\(prefix))"
            }
        let rows = try await connection.query(
            .select(
                values
                    ? "key, flags, value, session, lock_index, create_index, modify_index"
                    : "key, flags, NULL::bytea, session, lock_index, create_index, modify_index",
                from: "catalog.kv",
                where: condition,
                orderBy: "key"
            ),
            logger: self.logger
        )
        var entries: [KVEntry] = []
        for try await row in rows.decode((String, Int64, ByteBuffer?, String?, Int64, Int64, Int64).self) {
            entries.append(
                KVEntry(
                    key: row.0,
                    flags: UInt64(bitPattern: row.1),
                    value: row.2.map { Array($0.readableBytesView) },
                    session: row.3,
                    lockIndex: UInt64(row.4),
                    createIndex: UInt64(row.5),
                    modifyIndex: UInt64(row.6)
                )
            )
        }
        return entries
    }

    private func kvPrefixIndex(_ prefix: String, on connection: PostgresConnection) async throws -> ModifyIndex {
        let rows = try await connection.query("SELECT catalog.kv_prefix_index(\(prefix))", logger: self.logger)
        for try await value in rows.decode(Int64.self) { return UInt64(max(value, 0)) }
        return 0
    }

    /// How a PUT sets a key: plainly, or as a lock operation of a session.
    enum KVLock: Sendable, Equatable {
        case none
        case acquire(String)
        case release(String)
    }

    /// Sets `key` (see `catalog.kv_set`); false when `cas` or the lock operation did not hold,
    /// and nothing changed.
    func kvSet(key: String, value: [UInt8], flags: UInt64, cas: UInt64?, lock: KVLock) async throws -> Bool {
        try await self.kvWrite(KVSetStatement(key: key, value: value, flags: flags, cas: cas, lock: lock))
    }

    /// Deletes `key`, or with `recurse` every key under it; false when `cas` did not hold.
    func kvDelete(key: String, recurse: Bool, cas: UInt64?) async throws -> Bool {
        try await self.kvWrite(KVDeleteStatement(key: key, recurse: recurse, cas: cas))
    }

    private func kvWrite<Statement: PostgresPreparedStatement>(
        _ statement: Statement
    ) async throws -> Bool where Statement.Row == KVWritten {
        do {
            return try await self.client.withConnection { connection in
                for try await written in try await connection.execute(statement, logger: self.logger) {
                    if written.index > 0 {
                        self.feed.publish(KVKeys.topics(of: written.keys), index: UInt64(written.index))
                    }
                    return written.ok
                }
                return false
            }
        } catch let error as PSQLError {
            throw Self.mapped(error)
        }
    }

}
