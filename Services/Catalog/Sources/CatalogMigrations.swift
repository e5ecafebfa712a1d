import MeshStore

/// The catalog schema's history. Append only: never edit a migration that has shipped.
///
/// Writes are single calls of PL/pgSQL functions (one round trip, one implicit transaction,
/// all or nothing). Each returns the index it used and the change-feed topics it touched,
/// which the caller publishes after the commit. No function sends a NOTIFY.
enum CatalogMigrations {
    static let schema = StoreSchema(name: "catalog", tag: 1)

    static let all: [Migration] = [
        Migration(1, "modify index", statements: IndexMigrations.statements(for: schema)),
        Migration(
            2,
            "catalog tables",
            sql: """
                CREATE TABLE catalog.nodes (
                    name text PRIMARY KEY,
                    node_id text NOT NULL,
                    address text NOT NULL,
                    datacenter text NOT NULL,
                    tagged_addresses jsonb NOT NULL,
                    meta jsonb NOT NULL,
                    create_index bigint NOT NULL,
                    modify_index bigint NOT NULL)
                """,
            "CREATE INDEX nodes_modify_index ON catalog.nodes (modify_index)",
            """
            CREATE TABLE catalog.services (
                node text NOT NULL REFERENCES catalog.nodes (name) ON DELETE CASCADE,
                service_id text NOT NULL,
                name text NOT NULL,
                body jsonb NOT NULL,
                create_index bigint NOT NULL,
                modify_index bigint NOT NULL,
                PRIMARY KEY (node, service_id))
            """,
            "CREATE INDEX services_name ON catalog.services (name)",
            "CREATE INDEX services_modify_index ON catalog.services (modify_index)",
            """
            CREATE TABLE catalog.checks (
                node text NOT NULL REFERENCES catalog.nodes (name) ON DELETE CASCADE,
                check_id text NOT NULL,
                service_id text NOT NULL,
                service_name text NOT NULL,
                status text NOT NULL,
                output text NOT NULL,
                body jsonb NOT NULL,
                ttl_ms bigint,
                ttl_deadline timestamptz,
                critical_since timestamptz,
                deregister_after_ms bigint,
                create_index bigint NOT NULL,
                modify_index bigint NOT NULL,
                PRIMARY KEY (node, check_id))
            """,
            "CREATE INDEX checks_service_name ON catalog.checks (service_name)",
            "CREATE INDEX checks_check_id ON catalog.checks (check_id)",
            "CREATE INDEX checks_modify_index ON catalog.checks (modify_index)",
            "CREATE INDEX checks_ttl_deadline ON catalog.checks (ttl_deadline) WHERE ttl_deadline IS NOT NULL",
            """
            CREATE TABLE catalog.tombstones (
                id bigserial PRIMARY KEY,
                node text NOT NULL,
                service_name text NOT NULL,
                kind text NOT NULL,
                modify_index bigint NOT NULL,
                deleted_at timestamptz NOT NULL DEFAULT now())
            """,
            "CREATE INDEX tombstones_service ON catalog.tombstones (service_name, modify_index)",
            "CREATE INDEX tombstones_node ON catalog.tombstones (node, modify_index)",
            "CREATE INDEX tombstones_modify_index ON catalog.tombstones (modify_index)",
            "CREATE INDEX tombstones_deleted_at ON catalog.tombstones (deleted_at)",
            // Raised by tombstone GC so that an index never moves backwards when the
            // tombstone that carried it is gone.
            "CREATE TABLE catalog.index_floors (topic text PRIMARY KEY, modify_index bigint NOT NULL)"
        ),
        Migration(3, "catalog write functions", statements: CatalogSQL.functions),
        Migration(
            4,
            "config entries",
            sql: """
                CREATE TABLE catalog.config_entries (
                    kind text NOT NULL,
                    name text NOT NULL,
                    body jsonb NOT NULL,
                    create_index bigint NOT NULL,
                    modify_index bigint NOT NULL,
                    PRIMARY KEY (kind, name))
                """
        ),
        Migration(5, "kv and sessions", statements: KVSQL.statements),
    ]
}
