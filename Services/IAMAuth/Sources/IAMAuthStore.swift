import Foundation
import Logging
import MeshCore
import MeshStore
import PostgresNIO

/// Why a write to the iam_auth schema was refused.
enum IAMAuthStoreError: Error, Sendable, Equatable {
    case methodNotFound(String)
    case ruleNotFound(String)
}

/// The iam_auth schema's PostgreSQL access: auth methods and their binding rules.
struct IAMAuthStore: Sendable {
    static let schema = IAMAuthMigrations.schema
    static let topic = ChangeTopic("auth-methods")

    let client: PostgresClient
    let feed: ChangeFeed
    let logger: Logger

    func stableIndex() async throws -> ModifyIndex {
        try await self.client.stableIndex(of: Self.schema, logger: self.logger)
    }

    private static let methodColumns =
        "name, type, display_name, description, max_token_ttl_ms, token_locality, config::text, create_index, modify_index"

    func methods(where condition: PostgresQuery? = nil) async throws -> [AuthMethod] {
        let query = PostgresQuery.select(
            Self.methodColumns,
            from: "iam_auth.auth_methods",
            where: condition,
            orderBy: "lower(name)"
        )
        let rows = try await self.client.query(query, logger: self.logger)
        var methods: [AuthMethod] = []
        for try await row in rows.decode((String, String, String, String, Int64?, String, String, Int64, Int64).self) {
            let config = try JSONDecoder().decode(JSONValue.self, from: Data(row.6.utf8))
            methods.append(
                AuthMethod(
                    name: row.0,
                    type: row.1,
                    displayName: row.2,
                    description: row.3,
                    maxTokenTTL: row.4.map { .milliseconds($0) },
                    tokenLocality: row.5,
                    config: try AWSIAMMethodConfig(config),
                    createIndex: UInt64(row.7),
                    modifyIndex: UInt64(row.8)
                )
            )
        }
        return methods
    }

    /// The method named `name`; names compare without regard to case, as Consul's do.
    func method(named name: String) async throws -> AuthMethod? {
        try await self.methods(where: "lower(name) = lower(\(name))").first
    }

    /// Creates the method, or replaces the one with its name (Consul's `AuthMethodSet` is an
    /// upsert). The stored name keeps the case it was first created with.
    func upsert(_ method: AuthMethod) async throws -> AuthMethod {
        let config = String(decoding: try JSONEncoder().encode(method.config.json), as: UTF8.self)
        let ttl = method.maxTokenTTL.map { Int64(($0 / .milliseconds(1)).rounded()) }
        let name = try await self.write { connection, index -> String in
            let rows = try await connection.query(
                """
                UPDATE iam_auth.auth_methods SET display_name = \(method.displayName), \
                description = \(method.description), max_token_ttl_ms = \(ttl), \
                token_locality = \(method.tokenLocality), config = \(config)::jsonb, \
                modify_index = \(Int64(index)) WHERE lower(name) = lower(\(method.name)) RETURNING name
                """,
                logger: self.logger
            )
            for try await name in rows.decode(String.self) { return name }
            try await connection.query(
                """
                INSERT INTO iam_auth.auth_methods VALUES (\(method.name), \(method.type), \(method.displayName), \
                \(method.description), \(ttl), \(method.tokenLocality), \(config)::jsonb, \(Int64(index)), \
                \(Int64(index)))
                """,
                logger: self.logger
            )
            return method.name
        }
        guard let stored = try await self.method(named: name) else { throw IAMAuthStoreError.methodNotFound(name) }
        return stored
    }

    /// Deletes a method and its binding rules; false when there was none.
    func deleteMethod(named name: String) async throws -> Bool {
        try await self.write { connection, _ in
            let rows = try await connection.query(
                "DELETE FROM iam_auth.auth_methods WHERE lower(name) = lower(\(name)) RETURNING name",
                logger: self.logger
            )
            var deleted = false
            for try await _ in rows.decode(String.self) { deleted = true }
            return deleted
        }
    }

    private static let ruleColumns =
        "id, description, auth_method, selector, bind_type, bind_name, create_index, modify_index"

    func rules(where condition: PostgresQuery? = nil) async throws -> [BindingRule] {
        let query = PostgresQuery.select(
            Self.ruleColumns,
            from: "iam_auth.binding_rules",
            where: condition,
            orderBy: "id"
        )
        let rows = try await self.client.query(query, logger: self.logger)
        var rules: [BindingRule] = []
        for try await row in rows.decode((String, String, String, String, String, String, Int64, Int64).self) {
            rules.append(
                BindingRule(
                    id: row.0,
                    description: row.1,
                    authMethod: row.2,
                    selector: row.3,
                    bindType: BindingRule.BindType(rawValue: row.4) ?? .service,
                    bindName: row.5,
                    createIndex: UInt64(row.6),
                    modifyIndex: UInt64(row.7)
                )
            )
        }
        return rules
    }

    func rule(id: String) async throws -> BindingRule? {
        try await self.rules(where: "id = \(id)").first
    }

    /// Creates or replaces a rule; its method must exist (checked in the same transaction).
    func put(_ rule: BindingRule, replace: Bool) async throws -> BindingRule {
        try await self.write { connection, index in
            let exists = try await connection.query(
                "SELECT 1 FROM iam_auth.auth_methods WHERE name = \(rule.authMethod) FOR SHARE",
                logger: self.logger
            )
            var found = false
            for try await _ in exists.decode(Int32.self) { found = true }
            guard found else { throw IAMAuthStoreError.methodNotFound(rule.authMethod) }
            let rows: PostgresRowSequence
            if replace {
                rows = try await connection.query(
                    """
                    UPDATE iam_auth.binding_rules SET description = \(rule.description), \
                    auth_method = \(rule.authMethod), selector = \(rule.selector), \
                    bind_type = \(rule.bindType.rawValue), bind_name = \(rule.bindName), \
                    modify_index = \(Int64(index)) WHERE id = \(rule.id) RETURNING id
                    """,
                    logger: self.logger
                )
            } else {
                rows = try await connection.query(
                    """
                    INSERT INTO iam_auth.binding_rules VALUES (\(rule.id), \(rule.description), \
                    \(rule.authMethod), \(rule.selector), \(rule.bindType.rawValue), \(rule.bindName), \
                    \(Int64(index)), \(Int64(index))) RETURNING id
                    """,
                    logger: self.logger
                )
            }
            var written = false
            for try await _ in rows.decode(String.self) { written = true }
            guard written else { throw IAMAuthStoreError.ruleNotFound(rule.id) }
        }
        guard let stored = try await self.rule(id: rule.id) else { throw IAMAuthStoreError.ruleNotFound(rule.id) }
        return stored
    }

    func deleteRule(id: String) async throws -> Bool {
        try await self.write { connection, _ in
            let rows = try await connection.query(
                "DELETE FROM iam_auth.binding_rules WHERE id = \(id) RETURNING id",
                logger: self.logger
            )
            var deleted = false
            for try await _ in rows.decode(String.self) { deleted = true }
            return deleted
        }
    }

    /// One transaction with the next modify index; the topic is published after commit.
    private func write<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection, ModifyIndex) async throws -> Result
    ) async throws -> Result {
        try await self.feed.write([Self.topic], body)
    }
}
