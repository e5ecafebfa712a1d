import Foundation
import Logging
import MeshCore
import PostgresNIO

extension AuthzStore {
    /// Every intention, with its indexes.
    func intentions() async throws -> [Intention] {
        let rows = try await self.client.query(
            "SELECT id, body::text, create_index, modify_index FROM authz.intentions",
            logger: self.logger
        )
        var result: [Intention] = []
        for try await (id, body, created, modified) in rows.decode((String, String, Int64, Int64).self) {
            var intention = try Self.decodeJSON(Intention.self, body)
            intention.id = id
            intention.createIndex = UInt64(created)
            intention.modifyIndex = UInt64(modified)
            result.append(intention)
        }
        return result
    }

    /// Creates or replaces the intention from its source to its destination (`PUT .../exact`).
    /// Returns the stored intention's ID.
    @discardableResult
    func upsertIntention(_ intention: Intention) async throws -> String {
        var stored = intention
        stored.createIndex = 0
        stored.modifyIndex = 0
        let newID = stored.id.isEmpty ? Self.newID() : stored.id
        stored.id = ""
        let body = try Self.json(stored)
        let target = stored
        return try await self.write(Self.intentionsTopic) { connection, index in
            let stored = target
            let rows = try await connection.query(
                """
                INSERT INTO authz.intentions VALUES (\(newID), \(stored.sourceNamespace), \(stored.sourceName), \
                \(stored.destinationNamespace), \(stored.destinationName), \(body)::jsonb, \(Int64(index)), \
                \(Int64(index)))
                ON CONFLICT (source_ns, source_name, destination_ns, destination_name)
                DO UPDATE SET body = EXCLUDED.body, modify_index = EXCLUDED.modify_index
                RETURNING id
                """,
                logger: self.logger
            )
            var id = newID
            for try await value in rows.decode(String.self) { id = value }
            return id
        }
    }

    /// Creates an intention that must not exist yet (the legacy `POST /v1/connect/intentions`).
    func createIntention(_ intention: Intention) async throws -> String {
        var stored = intention
        let id = Self.newID()
        stored.id = ""
        let body = try Self.json(stored)
        let target = stored
        return try await self.write(Self.intentionsTopic) { connection, index in
            let stored = target
            let rows = try await connection.query(
                """
                INSERT INTO authz.intentions VALUES (\(id), \(stored.sourceNamespace), \(stored.sourceName), \
                \(stored.destinationNamespace), \(stored.destinationName), \(body)::jsonb, \(Int64(index)), \
                \(Int64(index))) ON CONFLICT DO NOTHING RETURNING id
                """,
                logger: self.logger
            )
            var inserted = false
            for try await _ in rows.decode(String.self) { inserted = true }
            guard inserted else {
                throw AuthzError.conflict(
                    "duplicate intention found: \(stored.sourceName) => \(stored.destinationName)"
                )
            }
            return id
        }
    }

    /// Deletes the intention between two services; deleting a missing one changes nothing.
    func deleteIntention(
        sourceNamespace: String,
        source: String,
        destinationNamespace: String,
        destination: String
    ) async throws {
        _ = try await self.write(Self.intentionsTopic) { connection, _ in
            try await connection.query(
                """
                DELETE FROM authz.intentions WHERE source_ns = \(sourceNamespace) AND source_name = \(source) \
                AND destination_ns = \(destinationNamespace) AND destination_name = \(destination)
                """,
                logger: self.logger
            )
        }
    }

    /// Deletes by ID; false when there was none.
    func deleteIntention(id: String) async throws -> Bool {
        try await self.write(Self.intentionsTopic) { connection, _ in
            let rows = try await connection.query(
                "DELETE FROM authz.intentions WHERE id = \(id) RETURNING id",
                logger: self.logger
            )
            var deleted = false
            for try await _ in rows.decode(String.self) { deleted = true }
            return deleted
        }
    }
}
