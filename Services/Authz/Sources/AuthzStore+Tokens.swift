import Foundation
import Logging
import MeshCore
import MeshServer
import MeshStore
import NIOCore
import PostgresNIO

/// A token as given to create or update, validated by the HTTP layer.
struct TokenInput: Sendable {
    var accessorID: String?
    var secretID: String?
    var description: String
    var policies: [LinkInput]
    var roles: [LinkInput]
    var serviceIdentities: [ACLServiceIdentity]
    var nodeIdentities: [ACLNodeIdentity]
    var local: Bool
    var authMethod: String
    /// Absolute expiry, already derived from `ExpirationTTL` when that was given.
    var expirationTime: Date?
}

/// Which tokens a list shows (`GET /v1/acl/tokens?policy=&role=&authmethod=&servicename=`).
struct TokenFilter: Sendable {
    var policyID: String?
    var roleID: String?
    var authMethod: String?
    var serviceName: String?
}

extension AuthzStore {
    static let tokenColumns = """
        accessor_id, description, policy_ids, role_ids, service_identities::text, node_identities::text, local, \
        auth_method, expiration_time, create_time, create_index, modify_index
        """

    /// Tokens matching `condition`, expired ones included (they are reaped by the leader).
    func tokens(where condition: PostgresQuery? = nil) async throws -> [ACLToken] {
        let query = PostgresQuery.select(
            Self.tokenColumns,
            from: "authz.tokens",
            where: condition,
            orderBy: "create_index"
        )
        let policies = try await self.policyNames()
        let roles = try await self.roleNames()
        let rows = try await self.client.query(query, logger: self.logger)
        var result: [ACLToken] = []
        for try await row in rows.decode(
            (String, String, [String], [String], String, String, Bool, String, Date?, Date, Int64, Int64).self
        ) {
            result.append(
                ACLToken(
                    accessorID: row.0,
                    secretID: nil,
                    description: row.1,
                    policies: Self.links(row.2, names: policies),
                    roles: Self.links(row.3, names: roles),
                    serviceIdentities: try Self.decodeJSON([ACLServiceIdentity].self, row.4),
                    nodeIdentities: try Self.decodeJSON([ACLNodeIdentity].self, row.5),
                    local: row.6,
                    authMethod: row.7,
                    expirationTime: row.8,
                    createTime: row.9,
                    createIndex: UInt64(row.10),
                    modifyIndex: UInt64(row.11)
                )
            )
        }
        return result
    }

    func token(accessorID: String) async throws -> ACLToken? {
        try await self.tokens(where: "accessor_id = \(accessorID)").first
    }

    /// The live (unexpired) token with this secret, or nil.
    func token(secret: String) async throws -> ACLToken? {
        let hash = Self.secretHash(secret)
        return try await self.tokens(
            where: "secret_hash = \(hash) AND (expiration_time IS NULL OR expiration_time > now())"
        ).first
    }

    func tokens(matching filter: TokenFilter) async throws -> [ACLToken] {
        let all = try await self.tokens()
        return all.filter { token in
            (filter.policyID.map { id in token.policies.contains { $0.id == id } } ?? true)
                && (filter.roleID.map { id in token.roles.contains { $0.id == id } } ?? true)
                && (filter.authMethod.map { token.authMethod == $0 } ?? true)
                && (filter.serviceName.map { name in token.serviceIdentities.contains { $0.serviceName == name } }
                    ?? true)
        }
    }

    /// Creates a token. A secret is generated unless given; the response is the only place it appears.
    func createToken(_ input: TokenInput) async throws -> ACLToken {
        let accessor = input.accessorID ?? Self.newID()
        let secret = input.secretID ?? Self.newID()
        try await self.insertToken(input, accessor: accessor, secret: secret, bootstrapping: false)
        guard var token = try await self.token(accessorID: accessor) else { throw AuthzError.tokenNotFound }
        token.secretID = secret
        return token
    }

    /// `PUT /v1/acl/bootstrap`: the first management token, once.
    func bootstrap(secret: String? = nil) async throws -> ACLToken {
        let input = TokenInput(
            accessorID: nil,
            secretID: nil,
            description: "Bootstrap Token (Global Management)",
            policies: [LinkInput(id: AuthzMigrations.globalManagementPolicyID, name: nil)],
            roles: [],
            serviceIdentities: [],
            nodeIdentities: [],
            local: false,
            authMethod: "",
            expirationTime: nil
        )
        let accessor = Self.newID()
        let secret = secret ?? Self.newID()
        try await self.insertToken(input, accessor: accessor, secret: secret, bootstrapping: true)
        guard var token = try await self.token(accessorID: accessor) else { throw AuthzError.tokenNotFound }
        token.secretID = secret
        return token
    }

    /// Makes sure a management token with this secret exists (`--initial-management-token`),
    /// using up the bootstrap as Consul does when it creates one from configuration.
    func ensureInitialManagement(secret: String) async throws {
        if try await self.token(secret: secret) != nil { return }
        do {
            var token = try await self.bootstrap(secret: secret)
            token.secretID = nil
            self.logger.info("created the initial management token", metadata: [LogKey.accessor: "\(token.accessorID)"])
        } catch AuthzError.bootstrapUsed {
            _ = try await self.createToken(
                TokenInput(
                    accessorID: nil,
                    secretID: secret,
                    description: "Initial Management Token",
                    policies: [LinkInput(id: AuthzMigrations.globalManagementPolicyID, name: nil)],
                    roles: [],
                    serviceIdentities: [],
                    nodeIdentities: [],
                    local: false,
                    authMethod: "",
                    expirationTime: nil
                )
            )
        }
    }

    private func insertToken(_ input: TokenInput, accessor: String, secret: String, bootstrapping: Bool) async throws {
        let hash = Self.secretHash(secret)
        let services = try Self.json(input.serviceIdentities)
        let nodes = try Self.json(input.nodeIdentities)
        _ = try await self.write(Self.aclTopic) { connection, index in
            if bootstrapping {
                let rows = try await connection.query(
                    """
                    INSERT INTO authz.bootstrap VALUES (1, \(Int64(index))) ON CONFLICT (id) DO NOTHING RETURNING id
                    """,
                    logger: self.logger
                )
                var first = false
                for try await _ in rows.decode(Int32.self) { first = true }
                if !first {
                    var used: Int64 = 0
                    let existing = try await connection.query(
                        "SELECT bootstrap_index FROM authz.bootstrap",
                        logger: self.logger
                    )
                    for try await value in existing.decode(Int64.self) { used = value }
                    throw AuthzError.bootstrapUsed(resetIndex: UInt64(used))
                }
            }
            let policyIDs = try await self.resolvePolicies(input.policies, on: connection)
            let roleIDs = try await self.resolveRoles(input.roles, on: connection)
            let rows = try await connection.query(
                """
                INSERT INTO authz.tokens VALUES (\(accessor), \(hash), \(input.description), \(policyIDs), \
                \(roleIDs), \(services)::jsonb, \(nodes)::jsonb, \(input.local), \(input.authMethod), \
                \(input.expirationTime), now(), \(Int64(index)), \(Int64(index))) ON CONFLICT DO NOTHING \
                RETURNING accessor_id
                """,
                logger: self.logger
            )
            var inserted = false
            for try await _ in rows.decode(String.self) { inserted = true }
            guard inserted else { throw AuthzError.conflict("Invalid Token: AccessorID or SecretID already in use") }
        }
    }

    /// Replaces a token's links and description. The secret, auth method and expiry never change.
    func updateToken(accessorID: String, _ input: TokenInput) async throws -> ACLToken {
        let services = try Self.json(input.serviceIdentities)
        let nodes = try Self.json(input.nodeIdentities)
        _ = try await self.write(Self.aclTopic) { connection, index in
            let rows = try await connection.query(
                """
                SELECT secret_hash, expiration_time, auth_method FROM authz.tokens \
                WHERE accessor_id = \(accessorID) FOR UPDATE
                """,
                logger: self.logger
            )
            var existing: (ByteBuffer, Date?, String)?
            for try await row in rows.decode((ByteBuffer, Date?, String).self) { existing = row }
            guard let existing else { throw AuthzError.tokenNotFound }
            if let secret = input.secretID, !secret.isEmpty, Self.secretHash(secret) != existing.0 {
                throw AuthzError.field("SecretID", "Changing a token's SecretID is not permitted")
            }
            if let expiry = input.expirationTime, expiry != existing.1 {
                throw AuthzError.field("ExpirationTime", "Cannot change expiration time")
            }
            if !input.authMethod.isEmpty && input.authMethod != existing.2 {
                throw AuthzError.field("AuthMethod", "Cannot change AuthMethod")
            }
            let policyIDs = try await self.resolvePolicies(input.policies, on: connection)
            let roleIDs = try await self.resolveRoles(input.roles, on: connection)
            try await connection.query(
                """
                UPDATE authz.tokens SET description = \(input.description), policy_ids = \(policyIDs), \
                role_ids = \(roleIDs), service_identities = \(services)::jsonb, node_identities = \(nodes)::jsonb, \
                local = \(input.local), modify_index = \(Int64(index)) WHERE accessor_id = \(accessorID)
                """,
                logger: self.logger
            )
        }
        guard let token = try await self.token(accessorID: accessorID) else { throw AuthzError.tokenNotFound }
        return token
    }

    /// Deletes a token; it stops resolving at once here, and on other services when their cache
    /// hears of the change. The anonymous token cannot be deleted.
    func deleteToken(accessorID: String) async throws {
        guard accessorID != AuthzMigrations.anonymousAccessorID else {
            throw AuthzError.builtin("Delete operation not permitted on the anonymous token")
        }
        try await self.write(Self.aclTopic) { connection, _ in
            let rows = try await connection.query(
                "DELETE FROM authz.tokens WHERE accessor_id = \(accessorID) RETURNING accessor_id",
                logger: self.logger
            )
            var deleted = false
            for try await _ in rows.decode(String.self) { deleted = true }
            guard deleted else { throw AuthzError.tokenNotFound }
        }
    }

    /// Deletes tokens past their expiry; run by the leader. Returns how many went.
    func reapExpiredTokens(on session: PostgresConnection) async throws -> Int {
        let rows = try await session.query(
            """
            WITH gone AS (DELETE FROM authz.tokens WHERE expiration_time <= now() RETURNING 1),
                 idx AS (SELECT authz.next_index() AS i WHERE EXISTS (SELECT 1 FROM gone))
            SELECT (SELECT count(*) FROM gone), COALESCE((SELECT i FROM idx), 0)
            """,
            logger: self.logger
        )
        for try await (count, index) in rows.decode((Int64, Int64).self) where count > 0 {
            self.feed.publish([Self.aclTopic], index: UInt64(index))
            return Int(count)
        }
        return 0
    }

    /// What a secret grants: every rule of the token's policies, of its roles' policies, and its
    /// identities (its own and its roles'). Unknown or expired secrets resolve to nil.
    ///
    /// One query: resolution is on the path of the first request of every token at every service.
    func resolve(secret: String) async throws -> ResolvedToken? {
        let hash = Self.secretHash(secret)
        let rows = try await self.client.query(
            """
            WITH t AS (
                SELECT accessor_id, policy_ids, role_ids, service_identities, node_identities, expiration_time
                  FROM authz.tokens
                 WHERE secret_hash = \(hash) AND (expiration_time IS NULL OR expiration_time > now())),
            r AS (SELECT roles.policy_ids, roles.service_identities, roles.node_identities
                    FROM authz.roles, t WHERE roles.id = ANY (t.role_ids)),
            pids AS (SELECT unnest(t.policy_ids) AS id FROM t UNION SELECT unnest(r.policy_ids) FROM r)
            SELECT t.accessor_id,
                   EXISTS (SELECT 1 FROM pids WHERE id = \(AuthzMigrations.globalManagementPolicyID)),
                   ARRAY(SELECT p.rules FROM authz.policies p WHERE p.id IN (SELECT id FROM pids)),
                   ARRAY(SELECT e ->> 'ServiceName' FROM (
                       SELECT jsonb_array_elements(t.service_identities) AS e
                       UNION ALL SELECT jsonb_array_elements(r.service_identities) FROM r) AS s),
                   ARRAY(SELECT e ->> 'NodeName' FROM (
                       SELECT jsonb_array_elements(t.node_identities) AS e
                       UNION ALL SELECT jsonb_array_elements(r.node_identities) FROM r) AS n),
                   t.expiration_time
              FROM t
            """,
            logger: self.logger
        )
        for try await (accessor, management, rules, services, nodes, expiry) in rows.decode(
            (String, Bool, [String], [String], [String], Date?).self
        ) {
            return ResolvedToken(
                accessorID: accessor,
                isManagement: management,
                rules: rules,
                serviceIdentities: services,
                nodeIdentities: nodes,
                expirationTime: expiry
            )
        }
        return nil
    }
}
