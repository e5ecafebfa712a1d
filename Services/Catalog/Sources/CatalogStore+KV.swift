import Foundation
import MeshCore
import MeshStore
import PostgresNIO

/// What a KV read selects.
enum KVQuery: Sendable, Hashable {
    /// One key.
    case key(String)
    /// Every key under a prefix; `values: false` when only the keys are wanted (`?keys`).
    case prefix(String, values: Bool)

    /// The change-feed topic whose changes can change the result.
    var topic: ChangeTopic {
        switch self {
        case .key(let key): KVKeys.keyTopic(key)
        case .prefix(let prefix, _): KVKeys.prefixTopic(prefix)
        }
    }
}

extension CatalogStore {
    /// Reads from one snapshot. The index is Consul's: an existing key's ModifyIndex; for a
    /// missing key, and for a prefix with nothing ever under it, the KV store's highest index;
    /// otherwise the prefix's highest, deletions included. It never passes the stable index.
    func kv(_ query: KVQuery) async throws -> Indexed<[KVEntry]> {
        try await self.client.withSnapshot(of: Self.schema, logger: self.logger) { connection, stable in
            let (condition, prefix): (PostgresQuery, String?) =
                switch query {
                case .key(let key): ("key = \(key)", nil)
                case .prefix(let prefix, _): ("key LIKE catalog.kv_like(\(prefix))", prefix)
                }
            let withValues = if case .prefix(_, values: false) = query { false } else { true }
            let rows = try await connection.query(
                .select(
                    withValues
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
            var index: ModifyIndex
            if case .key = query, let entry = entries.first {
                index = entry.modifyIndex
            } else {
                index = try await self.kvPrefixIndex(prefix ?? "", on: connection)
                if index == 0 && prefix?.isEmpty == false { index = try await self.kvPrefixIndex("", on: connection) }
            }
            return Indexed(entries, resultIndex: index, stable: stable)
        }
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
        let (acquire, release): (String?, String?) =
            switch lock {
            case .none: (nil, nil)
            case .acquire(let session): (session, nil)
            case .release(let session): (nil, session)
            }
        let flagBits = Int64(bitPattern: flags)
        let casValue = cas.map { Int64(bitPattern: $0) }
        return try await self.kvWrite {
            try await $0.query(
                """
                SELECT ok, modify_index, keys FROM catalog.kv_set(\(key), \(ByteBuffer(bytes: value)), \(flagBits), \
                \(casValue), \(acquire), \(release))
                """,
                logger: self.logger
            )
        }
    }

    /// Deletes `key`, or with `recurse` every key under it; false when `cas` did not hold.
    func kvDelete(key: String, recurse: Bool, cas: UInt64?) async throws -> Bool {
        let casValue = cas.map { Int64(bitPattern: $0) }
        return try await self.kvWrite {
            try await $0.query(
                "SELECT ok, modify_index, keys FROM catalog.kv_delete(\(key), \(recurse), \(casValue))",
                logger: self.logger
            )
        }
    }

    private func kvWrite(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> PostgresRowSequence
    ) async throws -> Bool {
        do {
            return try await self.client.withConnection { connection in
                for try await (ok, index, keys) in try await body(connection).decode((Bool, Int64, [String]).self) {
                    if index > 0 { self.feed.publish(KVKeys.topics(of: keys), index: UInt64(index)) }
                    return ok
                }
                return false
            }
        } catch let error as PSQLError {
            throw Self.mapped(error)
        }
    }
}
