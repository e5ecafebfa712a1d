import Foundation
import MeshCore
import MeshStore
import PostgresNIO

extension CatalogStore {
    /// The topic config entry changes are published on (blocking reads and the config-distributor follow it).
    static let configTopic = ChangeTopic("config")

    func configEntries(kind: ConfigEntryKind, name: String? = nil) async throws -> [ConfigEntry] {
        let condition: PostgresQuery =
            if let name { "kind = \(kind.rawValue) AND name = \(name)" } else { "kind = \(kind.rawValue)" }
        let query = PostgresQuery.select(
            "kind, name, body::text, create_index, modify_index",
            from: "catalog.config_entries",
            where: condition,
            orderBy: "name"
        )
        var entries: [ConfigEntry] = []
        for try await row in try await self.client.query(query, logger: self.logger)
            .decode((String, String, String, Int64, Int64).self)
        {
            guard case .object(let body) = try JSONDecoder().decode(JSONValue.self, from: Data(row.2.utf8)) else {
                continue
            }
            entries.append(
                ConfigEntry(
                    kind: kind,
                    name: row.1,
                    body: body,
                    createIndex: UInt64(row.3),
                    modifyIndex: UInt64(row.4)
                )
            )
        }
        return entries
    }

    /// The protocol of every service with `service-defaults`, and the cluster default.
    func proxyConfigEntries() async throws -> ProxyConfigEntries {
        let global = try await self.configEntries(kind: .proxyDefaults, name: "global").first
        var protocols: [String: String] = [:]
        for entry in try await self.configEntries(kind: .serviceDefaults) {
            protocols[entry.name] = entry.protocolName(default: nil)
        }
        let mesh = try await self.configEntries(kind: .mesh, name: MeshConfigEntry.name).first
        return ProxyConfigEntries(
            defaultProtocol: global?.protocolName(default: nil) ?? "tcp",
            protocols: protocols.compactMapValues { $0 },
            // Validated when written; an entry that no longer reads keeps the defaults.
            requestNormalization: (try? MeshConfigEntry.requestNormalization(mesh?.body)) ?? .default
        )
    }

    /// Creates or replaces an entry. With `cas`, only if the entry's ModifyIndex is `cas` (0: only
    /// if it does not exist); false when that does not hold, and nothing changes.
    func putConfigEntry(
        kind: ConfigEntryKind,
        name: String,
        body: [String: JSONValue],
        cas: UInt64?
    ) async throws
        -> Bool
    {
        let text = String(decoding: try JSONEncoder().encode(JSONValue.object(body)), as: UTF8.self)
        let logger = self.logger
        let index: ModifyIndex? = try await self.client.transaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT modify_index FROM catalog.config_entries WHERE kind = \(kind.rawValue) AND name = \(name) \
                FOR UPDATE
                """,
                logger: logger
            )
            var existing: Int64?
            for try await value in rows.decode(Int64.self) { existing = value }
            if let cas {
                guard cas == 0 ? existing == nil : existing == Int64(exactly: cas) else { return nil }
            }
            let index = try await connection.nextIndex(of: Self.schema, logger: logger)
            try await connection.query(
                """
                INSERT INTO catalog.config_entries VALUES (\(kind.rawValue), \(name), \(text)::jsonb, \
                \(Int64(index)), \(Int64(index))) ON CONFLICT (kind, name) DO UPDATE SET body = EXCLUDED.body, \
                modify_index = EXCLUDED.modify_index
                """,
                logger: logger
            )
            return index
        }
        guard let index else { return false }
        self.feed.publish([Self.configTopic], index: index)
        return true
    }

    /// Deletes an entry (with `cas`, only at that ModifyIndex); false when `cas` does not hold.
    /// Deleting what does not exist succeeds and changes nothing.
    func deleteConfigEntry(kind: ConfigEntryKind, name: String, cas: UInt64?) async throws -> Bool {
        let logger = self.logger
        let outcome: (deleted: Bool, index: ModifyIndex?) = try await self.client.transaction(logger: logger) {
            connection in
            let rows = try await connection.query(
                """
                SELECT modify_index FROM catalog.config_entries WHERE kind = \(kind.rawValue) AND name = \(name) \
                FOR UPDATE
                """,
                logger: logger
            )
            var existing: Int64?
            for try await value in rows.decode(Int64.self) { existing = value }
            if let cas, existing != Int64(exactly: cas) { return (false, nil) }
            guard existing != nil else { return (true, nil) }
            let index = try await connection.nextIndex(of: Self.schema, logger: logger)
            try await connection.query(
                "DELETE FROM catalog.config_entries WHERE kind = \(kind.rawValue) AND name = \(name)",
                logger: logger
            )
            return (true, index)
        }
        if let index = outcome.index { self.feed.publish([Self.configTopic], index: index) }
        return outcome.deleted
    }
}
