import MeshCore
import MeshStore

/// The authz schema's history. Append only: never edit a migration that has shipped.
///
/// Secrets are never stored: a token row holds the SHA-256 of its secret (secrets are random
/// UUIDs, 122 bits, so a plain hash cannot be reversed by guessing). The built-in
/// global-management policy and the anonymous token exist from the start, as in Consul.
enum AuthzMigrations {
    static let schema = StoreSchema(name: "authz", tag: 3)

    /// Consul's built-in policy and token IDs.
    static let globalManagementPolicyID = "00000000-0000-0000-0000-000000000001"
    static let anonymousAccessorID = "00000000-0000-0000-0000-000000000002"
    static let anonymousSecret = "anonymous"

    static let all: [Migration] = [
        Migration(1, "modify index", statements: IndexMigrations.statements(for: schema)),
        Migration(
            2,
            "acl tables",
            sql: """
                CREATE TABLE authz.policies (
                    id text PRIMARY KEY,
                    name text NOT NULL UNIQUE,
                    description text NOT NULL,
                    rules text NOT NULL,
                    datacenters text[] NOT NULL,
                    create_index bigint NOT NULL,
                    modify_index bigint NOT NULL)
                """,
            """
            CREATE TABLE authz.roles (
                id text PRIMARY KEY,
                name text NOT NULL UNIQUE,
                description text NOT NULL,
                policy_ids text[] NOT NULL,
                service_identities jsonb NOT NULL,
                node_identities jsonb NOT NULL,
                create_index bigint NOT NULL,
                modify_index bigint NOT NULL)
            """,
            """
            CREATE TABLE authz.tokens (
                accessor_id text PRIMARY KEY,
                secret_hash bytea NOT NULL UNIQUE,
                description text NOT NULL,
                policy_ids text[] NOT NULL,
                role_ids text[] NOT NULL,
                service_identities jsonb NOT NULL,
                node_identities jsonb NOT NULL,
                local boolean NOT NULL,
                auth_method text NOT NULL,
                expiration_time timestamptz,
                create_time timestamptz NOT NULL,
                create_index bigint NOT NULL,
                modify_index bigint NOT NULL)
            """,
            "CREATE INDEX tokens_expiration ON authz.tokens (expiration_time) WHERE expiration_time IS NOT NULL",
            "CREATE TABLE authz.bootstrap (id int PRIMARY KEY CHECK (id = 1), bootstrap_index bigint NOT NULL)",
            """
            INSERT INTO authz.policies VALUES ('\(globalManagementPolicyID)', 'global-management',
                'Builtin Policy that grants unlimited access', '\(globalManagementRules)', '{}', 1, 1)
            """,
            """
            INSERT INTO authz.tokens VALUES ('\(anonymousAccessorID)', sha256(convert_to('\(anonymousSecret)', 'UTF8')),
                'Anonymous Token', '{}', '{}', '[]', '[]', false, '', NULL, now(), 1, 1)
            """
        ),
        Migration(
            3,
            "intentions",
            sql: """
                CREATE TABLE authz.intentions (
                    id text PRIMARY KEY,
                    source_ns text NOT NULL,
                    source_name text NOT NULL,
                    destination_ns text NOT NULL,
                    destination_name text NOT NULL,
                    body jsonb NOT NULL,
                    create_index bigint NOT NULL,
                    modify_index bigint NOT NULL,
                    UNIQUE (source_ns, source_name, destination_ns, destination_name))
                """
        ),
    ]

    /// Consul's `global-management` rules (acl/policy.go `ACLPolicyGlobalManagement`).
    static let globalManagementRules = ACLIdentities.globalManagementRulesText
}
