import Foundation
import Logging
import MeshCore
import MeshStore
import PostgresNIO

/// A policy as given to create or update, already validated by the HTTP layer.
struct PolicyInput: Sendable {
    var id: String?
    var name: String
    var description: String
    var rules: String
    var datacenters: [String]
}

extension AuthzStore {
    static let policyColumns = "id, name, description, rules, datacenters, create_index, modify_index"

    static func policy(
        from row: (String, String, String, String, [String], Int64, Int64)
    ) -> ACLPolicy {
        ACLPolicy(
            id: row.0,
            name: row.1,
            description: row.2,
            rules: row.3,
            datacenters: row.4,
            createIndex: UInt64(row.5),
            modifyIndex: UInt64(row.6)
        )
    }

    func policies(where condition: PostgresQuery? = nil) async throws -> [ACLPolicy] {
        let query = PostgresQuery.select(Self.policyColumns, from: "authz.policies", where: condition, orderBy: "name")
        let rows = try await self.client.query(query, logger: self.logger)
        var result: [ACLPolicy] = []
        for try await row in rows.decode((String, String, String, String, [String], Int64, Int64).self) {
            result.append(Self.policy(from: row))
        }
        return result
    }

    func policy(id: String) async throws -> ACLPolicy? {
        try await self.policies(where: "id = \(id)").first
    }

    func policy(name: String) async throws -> ACLPolicy? {
        try await self.policies(where: "name = \(name)").first
    }

    /// Creates a policy; a taken name or ID is refused.
    func createPolicy(_ input: PolicyInput) async throws -> ACLPolicy {
        let id = input.id ?? Self.newID()
        return try await self.write(Self.aclTopic) { connection, index in
            try await Self.requireFreePolicyName(input.name, except: nil, on: connection, logger: self.logger)
            let rows = try await connection.query(
                """
                INSERT INTO authz.policies VALUES (\(id), \(input.name), \(input.description), \(input.rules), \
                \(input.datacenters), \(Int64(index)), \(Int64(index))) ON CONFLICT (id) DO NOTHING RETURNING id
                """,
                logger: self.logger
            )
            var inserted = false
            for try await _ in rows.decode(String.self) { inserted = true }
            guard inserted else {
                throw AuthzError.conflict("Invalid Policy: A Policy with ID \"\(id)\" already exists")
            }
            return ACLPolicy(
                id: id,
                name: input.name,
                description: input.description,
                rules: input.rules,
                datacenters: input.datacenters,
                createIndex: index,
                modifyIndex: index
            )
        }
    }

    /// Replaces a policy's fields. The built-in global-management policy keeps its rules.
    func updatePolicy(id: String, _ input: PolicyInput) async throws -> ACLPolicy {
        try await self.write(Self.aclTopic) { connection, index in
            let rows = try await connection.query(
                "SELECT rules, create_index FROM authz.policies WHERE id = \(id) FOR UPDATE",
                logger: self.logger
            )
            var existing: (String, Int64)?
            for try await row in rows.decode((String, Int64).self) { existing = row }
            guard let existing else { throw AuthzError.notFound("Cannot find policy to update") }
            if id == AuthzMigrations.globalManagementPolicyID && existing.0 != input.rules {
                throw AuthzError.builtin("Changing the Rules for the builtin global-management policy is not permitted")
            }
            try await Self.requireFreePolicyName(input.name, except: id, on: connection, logger: self.logger)
            try await connection.query(
                """
                UPDATE authz.policies SET name = \(input.name), description = \(input.description), \
                rules = \(input.rules), datacenters = \(input.datacenters), modify_index = \(Int64(index)) \
                WHERE id = \(id)
                """,
                logger: self.logger
            )
            return ACLPolicy(
                id: id,
                name: input.name,
                description: input.description,
                rules: input.rules,
                datacenters: input.datacenters,
                createIndex: UInt64(existing.1),
                modifyIndex: index
            )
        }
    }

    /// Deletes a policy; links to it from tokens and roles stop counting at once.
    func deletePolicy(id: String) async throws {
        guard id != AuthzMigrations.globalManagementPolicyID else {
            throw AuthzError.builtin("Deletion of the builtin global-management policy is not permitted")
        }
        _ = try await self.write(Self.aclTopic) { connection, _ in
            try await connection.query("DELETE FROM authz.policies WHERE id = \(id)", logger: self.logger)
        }
    }

    static func requireFreePolicyName(
        _ name: String,
        except id: String?,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        let rows = try await connection.query(
            "SELECT id FROM authz.policies WHERE name = \(name)",
            logger: logger
        )
        for try await other in rows.decode(String.self) where other != id {
            throw AuthzError.conflict("Invalid Policy: A Policy with Name \"\(name)\" already exists")
        }
    }
}
