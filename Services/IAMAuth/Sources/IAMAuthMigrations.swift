import MeshStore

/// The iam_auth schema's history. Append only: never edit a migration that has shipped.
///
/// Auth methods and binding rules live here; the tokens a login makes live in authz-svc, which
/// this service asks over gRPC (each service owns its schema).
enum IAMAuthMigrations {
    static let schema = StoreSchema(name: "iam_auth", tag: 4)

    static let all: [Migration] = [
        Migration(1, "modify index", statements: IndexMigrations.statements(for: schema)),
        Migration(
            2,
            "auth methods and binding rules",
            sql: """
                CREATE TABLE iam_auth.auth_methods (
                    name text PRIMARY KEY,
                    type text NOT NULL,
                    display_name text NOT NULL,
                    description text NOT NULL,
                    max_token_ttl_ms bigint,
                    token_locality text NOT NULL,
                    config jsonb NOT NULL,
                    create_index bigint NOT NULL,
                    modify_index bigint NOT NULL)
                """,
            """
            CREATE TABLE iam_auth.binding_rules (
                id text PRIMARY KEY,
                description text NOT NULL,
                auth_method text NOT NULL REFERENCES iam_auth.auth_methods (name) ON DELETE CASCADE,
                selector text NOT NULL,
                bind_type text NOT NULL,
                bind_name text NOT NULL,
                create_index bigint NOT NULL,
                modify_index bigint NOT NULL)
            """,
            "CREATE INDEX binding_rules_method ON iam_auth.binding_rules (auth_method, create_index)"
        ),
    ]
}
