import MeshStore

/// The ca schema's history. Append only: never edit a migration that has shipped.
///
/// Root private keys are stored only sealed with the key-encryption key (AES-GCM, the root's
/// ID as associated data), so a copy of the database alone yields no key.
enum CAMigrations {
    static let schema = StoreSchema(name: "ca", tag: 2)

    static let all: [Migration] = [
        Migration(1, "modify index", statements: IndexMigrations.statements(for: schema)),
        Migration(
            2,
            "ca tables",
            sql: """
                CREATE TABLE ca.cluster (
                    id int PRIMARY KEY CHECK (id = 1),
                    cluster_id text NOT NULL,
                    trust_domain text NOT NULL,
                    config jsonb NOT NULL,
                    create_index bigint NOT NULL,
                    modify_index bigint NOT NULL)
                """,
            """
            CREATE TABLE ca.roots (
                id text PRIMARY KEY,
                name text NOT NULL,
                serial_number bigint NOT NULL,
                signing_key_id text NOT NULL,
                not_before timestamptz NOT NULL,
                not_after timestamptz NOT NULL,
                root_pem text NOT NULL,
                intermediate_pems text[] NOT NULL,
                sealed_key bytea NOT NULL,
                active boolean NOT NULL,
                rotated_out_at timestamptz,
                create_index bigint NOT NULL,
                modify_index bigint NOT NULL)
            """,
            "CREATE UNIQUE INDEX roots_one_active ON ca.roots (active) WHERE active"
        ),
    ]
}
