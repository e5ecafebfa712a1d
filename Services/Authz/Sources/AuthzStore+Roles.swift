import Foundation
import Logging
import MeshCore
import MeshStore
import PostgresNIO

/// A link as given in a request: by ID or by name.
struct LinkInput: Sendable, Hashable {
    var id: String?
    var name: String?
}

/// A role as given to create or update.
struct RoleInput: Sendable {
    var id: String?
    var name: String
    var description: String
    var policies: [LinkInput]
    var serviceIdentities: [ACLServiceIdentity]
    var nodeIdentities: [ACLNodeIdentity]
}

extension AuthzStore {
    static let roleColumns = """
        id, name, description, policy_ids, service_identities::text, node_identities::text, create_index, modify_index
        """

    func roles(where condition: PostgresQuery? = nil) async throws -> [ACLRole] {
        let query = PostgresQuery.select(Self.roleColumns, from: "authz.roles", where: condition, orderBy: "name")
        let names = try await self.policyNames()
        let rows = try await self.client.query(query, logger: self.logger)
        var result: [ACLRole] = []
        for try await row in rows.decode((String, String, String, [String], String, String, Int64, Int64).self) {
            result.append(
                ACLRole(
                    id: row.0,
                    name: row.1,
                    description: row.2,
                    policies: Self.links(row.3, names: names),
                    serviceIdentities: try Self.decodeJSON([ACLServiceIdentity].self, row.4),
                    nodeIdentities: try Self.decodeJSON([ACLNodeIdentity].self, row.5),
                    createIndex: UInt64(row.6),
                    modifyIndex: UInt64(row.7)
                )
            )
        }
        return result
    }

    func role(id: String) async throws -> ACLRole? {
        try await self.roles(where: "id = \(id)").first
    }

    func role(name: String) async throws -> ACLRole? {
        try await self.roles(where: "name = \(name)").first
    }

    /// Every policy's name by ID (for showing links).
    func policyNames() async throws -> [String: String] {
        try await Self.names(of: "authz.policies", on: self.client, logger: self.logger)
    }

    /// Every role's name by ID.
    func roleNames() async throws -> [String: String] {
        try await Self.names(of: "authz.roles", on: self.client, logger: self.logger)
    }

    static func names(of table: String, on client: PostgresClient, logger: Logger) async throws -> [String: String] {
        let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT id, name FROM \(table)"), logger: logger)
        var names: [String: String] = [:]
        for try await (id, name) in rows.decode((String, String).self) { names[id] = name }
        return names
    }

    /// Links whose target still exists, with its current name (Consul drops dangling links on read).
    static func links(_ ids: [String], names: [String: String]) -> [ACLLink] {
        ids.compactMap { id in names[id].map { ACLLink(id: id, name: $0) } }
    }

    /// The IDs of the policies `links` name (by ID or name), inside a write.
    func resolvePolicies(_ links: [LinkInput], on connection: PostgresConnection) async throws -> [String] {
        try await Self.resolve(links, kind: "policy", table: "authz.policies", on: connection, logger: self.logger)
    }

    /// The IDs of the roles `links` name (by ID or name), inside a write.
    func resolveRoles(_ links: [LinkInput], on connection: PostgresConnection) async throws -> [String] {
        try await Self.resolve(links, kind: "role", table: "authz.roles", on: connection, logger: self.logger)
    }

    /// Resolves links given by ID or name to IDs inside a write; an unknown one is refused.
    static func resolve(
        _ links: [LinkInput],
        kind: String,
        table: String,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [String] {
        var ids: [String] = []
        for (position, link) in links.enumerated() {
            let field = "\(kind == "policy" ? "Policies" : "Roles")[\(position)]"
            let rows: PostgresRowSequence
            if let id = link.id, !id.isEmpty {
                rows = try await connection.query(
                    PostgresQuery(unsafeSQL: "SELECT id FROM \(table) WHERE id = $1", binds: Self.bind(id)),
                    logger: logger
                )
            } else if let name = link.name, !name.isEmpty {
                rows = try await connection.query(
                    PostgresQuery(unsafeSQL: "SELECT id FROM \(table) WHERE name = $1", binds: Self.bind(name)),
                    logger: logger
                )
            } else {
                throw AuthzError.field(field, "a \(kind) link needs an ID or a Name")
            }
            var found: String?
            for try await id in rows.decode(String.self) { found = id }
            guard let found else {
                throw AuthzError.field(field, "cannot find \(kind) \"\(link.id ?? link.name ?? "")\"")
            }
            if !ids.contains(found) { ids.append(found) }
        }
        return ids
    }

    static func bind(_ value: String) -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(value)
        return binds
    }

    /// Creates a role; a taken name is refused.
    func createRole(_ input: RoleInput) async throws -> ACLRole {
        let id = input.id ?? Self.newID()
        let services = try Self.json(input.serviceIdentities)
        let nodes = try Self.json(input.nodeIdentities)
        _ = try await self.write(Self.aclTopic) { connection, index in
            try await Self.requireFreeRoleName(input.name, except: nil, on: connection, logger: self.logger)
            let policyIDs = try await self.resolvePolicies(input.policies, on: connection)
            try await connection.query(
                """
                INSERT INTO authz.roles VALUES (\(id), \(input.name), \(input.description), \(policyIDs), \
                \(services)::jsonb, \(nodes)::jsonb, \(Int64(index)), \(Int64(index)))
                """,
                logger: self.logger
            )
        }
        guard let role = try await self.role(id: id) else { throw AuthzError.notFound("Role not found") }
        return role
    }

    /// Replaces a role's fields.
    func updateRole(id: String, _ input: RoleInput) async throws -> ACLRole {
        let services = try Self.json(input.serviceIdentities)
        let nodes = try Self.json(input.nodeIdentities)
        _ = try await self.write(Self.aclTopic) { connection, index in
            try await Self.requireFreeRoleName(input.name, except: id, on: connection, logger: self.logger)
            let policyIDs = try await self.resolvePolicies(input.policies, on: connection)
            let rows = try await connection.query(
                """
                UPDATE authz.roles SET name = \(input.name), description = \(input.description), \
                policy_ids = \(policyIDs), service_identities = \(services)::jsonb, \
                node_identities = \(nodes)::jsonb, modify_index = \(Int64(index)) WHERE id = \(id) RETURNING id
                """,
                logger: self.logger
            )
            var updated = false
            for try await _ in rows.decode(String.self) { updated = true }
            guard updated else { throw AuthzError.notFound("Cannot find role \(id)") }
        }
        guard let role = try await self.role(id: id) else { throw AuthzError.notFound("Role not found") }
        return role
    }

    /// Deletes a role; tokens linking to it lose what it granted at once.
    func deleteRole(id: String) async throws {
        _ = try await self.write(Self.aclTopic) { connection, _ in
            try await connection.query("DELETE FROM authz.roles WHERE id = \(id)", logger: self.logger)
        }
    }

    static func requireFreeRoleName(
        _ name: String,
        except id: String?,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        let rows = try await connection.query("SELECT id FROM authz.roles WHERE name = \(name)", logger: logger)
        for try await other in rows.decode(String.self) where other != id {
            throw AuthzError.conflict("Invalid Role: A Role with Name \"\(name)\" already exists")
        }
    }
}
