import Foundation
import MeshStore

/// The KV store and sessions (migration 5): tables and write functions beside the catalog's, so
/// that a session linked to a catalog check is invalidated in the same transaction as the check
/// turning critical, and a transaction can mix KV with catalog operations.
///
/// Like the catalog's, each write function is one call (one round trip) returning the index it
/// used; KV writes return the keys they touched, from which the caller derives the change-feed
/// topics (`KVTopics`). Invalidations caused by a catalog write (a linked check turning critical
/// or removed, a node removed) happen in a trigger; it announces its topics with a `NOTIFY` of
/// its own, built by `catalog.notify_payload` exactly as `ChangeFeed` builds one.
enum KVSQL {
    static let statements: [String] = tables + functions + triggers

    static let tables = [
        """
        CREATE TABLE catalog.kv (
            key text COLLATE "C" PRIMARY KEY,
            flags bigint NOT NULL,
            value bytea,
            session text,
            lock_index bigint NOT NULL,
            create_index bigint NOT NULL,
            modify_index bigint NOT NULL)
            WITH (fillfactor = 80)
        """,
        // No index on modify_index: a write then updates the row in place (a HOT update, no
        // index entries to add), which the KV write rate depends on (docs/BENCHMARKS.md).
        "CREATE INDEX kv_session ON catalog.kv (session) WHERE session IS NOT NULL",
        """
        CREATE TABLE catalog.kv_tombstones (
            key text COLLATE "C" PRIMARY KEY,
            modify_index bigint NOT NULL,
            deleted_at timestamptz NOT NULL DEFAULT now())
        """,
        "CREATE INDEX kv_tombstones_deleted_at ON catalog.kv_tombstones (deleted_at)",
        // Until when a key may not be acquired after its session was invalidated (Consul's lock-delay).
        "CREATE TABLE catalog.kv_lock_delays (key text COLLATE \"C\" PRIMARY KEY, until timestamptz NOT NULL)",
        """
        CREATE TABLE catalog.sessions (
            id text PRIMARY KEY,
            name text NOT NULL,
            node text NOT NULL,
            node_checks text[] NOT NULL,
            service_checks text[] NOT NULL,
            lock_delay_ms bigint NOT NULL,
            behavior text NOT NULL,
            ttl text NOT NULL,
            ttl_ms bigint,
            ttl_deadline timestamptz,
            create_index bigint NOT NULL,
            modify_index bigint NOT NULL)
        """,
        "CREATE INDEX sessions_node ON catalog.sessions (node)",
        "CREATE INDEX sessions_ttl_deadline ON catalog.sessions (ttl_deadline) WHERE ttl_deadline IS NOT NULL",
    ]

    static let functions = [
        // A LIKE pattern matching every key that starts with p_prefix.
        """
        CREATE FUNCTION catalog.kv_like(p_prefix text) RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
            SELECT replace(replace(replace(p_prefix, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'
        $fn$
        """,
        // The change-feed topics of writes to p_keys (see KVTopics, which must agree): each key's
        // own topic and the topic of every prefix of it that ends at a '/' (the empty one included).
        """
        CREATE FUNCTION catalog.kv_topics(p_keys text[]) RETURNS text[] LANGUAGE sql IMMUTABLE AS $fn$
            WITH escaped AS (
                SELECT replace(replace(k, '%', '%25'), E'\\n', '%0A') AS key FROM unnest(p_keys) AS k)
            SELECT ARRAY(
                SELECT DISTINCT t FROM (
                    SELECT 'kv:' || e.key AS t FROM escaped e
                    UNION ALL
                    SELECT 'kvp:' || left(e.key, i) FROM escaped e, generate_series(0, length(e.key)) AS i
                     WHERE i = 0 OR substr(e.key, i, 1) = '/') AS all_topics)
        $fn$
        """,
        // A change-feed notification (see NotificationPayload): the index, then one topic per
        // line; past the size limit, the topic that wakes every watcher.
        """
        CREATE FUNCTION catalog.notify_payload(p_index bigint, p_topics text[]) RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
            SELECT CASE WHEN octet_length(t.text) > 7000 THEN p_index::text || E'\\n*' ELSE t.text END
              FROM (SELECT p_index::text || COALESCE(
                        (SELECT string_agg(E'\\n' || x, '' ORDER BY x) FROM unnest(p_topics) AS x), '') AS text) t
        $fn$
        """,
        // Sets a key, with Consul's semantics (kvsSetTxn, kvsLockTxn, kvsUnlockTxn). With p_cas,
        // only when its ModifyIndex is p_cas (0: only when absent). With p_acquire, only when no
        // lock-delay runs on the key and no other session holds it; LockIndex moves on when the
        // holder changes. With p_release, only when p_release holds it (LockIndex kept). A plain
        // set keeps the holder and resets LockIndex. Returns whether it was set.
        """
        CREATE FUNCTION catalog.kv_set(p_key text, p_value bytea, p_flags bigint, p_cas bigint, p_acquire text,
                                       p_release text)
        RETURNS TABLE (ok boolean, modify_index bigint, keys text[]) LANGUAGE plpgsql AS $fn$
        DECLARE
            v_row catalog.kv%ROWTYPE;
            v_found boolean;
            v_session text;
            v_lock bigint;
            v_idx bigint;
        BEGIN
            ok := false; modify_index := 0; keys := ARRAY[]::text[];
            -- Serializes writers of one key (a row lock cannot, while the key is absent).
            PERFORM pg_advisory_xact_lock(hashtextextended('catalog.kv:' || p_key, 0));
            SELECT * INTO v_row FROM catalog.kv k WHERE k.key = p_key;
            v_found := FOUND;
            IF p_cas IS NOT NULL AND (CASE WHEN p_cas = 0 THEN v_found ELSE NOT v_found OR v_row.modify_index <> p_cas END) THEN
                RETURN NEXT; RETURN;
            END IF;
            v_session := CASE WHEN v_found THEN v_row.session END;
            -- A plain set keeps the holder but not the LockIndex (Consul's kvsSetTxn).
            v_lock := 0;
            IF p_acquire IS NOT NULL THEN
                PERFORM 1 FROM catalog.kv_lock_delays d WHERE d.key = p_key AND d.until > now();
                IF FOUND THEN
                    RETURN NEXT; RETURN;
                END IF;
                PERFORM 1 FROM catalog.sessions s WHERE s.id = p_acquire FOR SHARE;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'invalid session "%"', p_acquire USING ERRCODE = 'MS422';
                END IF;
                IF v_session IS NOT NULL AND v_session <> p_acquire THEN
                    RETURN NEXT; RETURN;
                END IF;
                v_lock := CASE WHEN NOT v_found THEN 1
                               WHEN v_session IS NULL THEN v_row.lock_index + 1
                               ELSE v_row.lock_index END;
                v_session := p_acquire;
            ELSIF p_release IS NOT NULL THEN
                IF NOT v_found OR v_session IS DISTINCT FROM p_release THEN
                    RETURN NEXT; RETURN;
                END IF;
                v_session := NULL;
                v_lock := v_row.lock_index;
            END IF;
            -- Writing what is stored changes nothing and moves no index.
            IF v_found AND (v_row.flags, v_row.value, v_row.session, v_row.lock_index) IS NOT DISTINCT FROM
                           (p_flags, p_value, v_session, v_lock) THEN
                ok := true;
                RETURN NEXT; RETURN;
            END IF;
            v_idx := catalog.next_index();
            INSERT INTO catalog.kv AS k (key, flags, value, session, lock_index, create_index, modify_index)
            VALUES (p_key, p_flags, p_value, v_session, v_lock, v_idx, v_idx)
            ON CONFLICT (key) DO UPDATE SET flags = EXCLUDED.flags, value = EXCLUDED.value,
                session = EXCLUDED.session, lock_index = EXCLUDED.lock_index, modify_index = EXCLUDED.modify_index;
            DELETE FROM catalog.kv_tombstones t WHERE t.key = p_key;
            ok := true; modify_index := v_idx; keys := ARRAY[p_key];
            RETURN NEXT;
        END
        $fn$
        """,
        // Deletes a key (with p_cas, only at that ModifyIndex; a missing key counts as deleted),
        // or with p_recurse every key under it. Leaves tombstones for blocking queries on prefixes.
        """
        CREATE FUNCTION catalog.kv_delete(p_key text, p_recurse boolean, p_cas bigint)
        RETURNS TABLE (ok boolean, modify_index bigint, keys text[]) LANGUAGE plpgsql AS $fn$
        DECLARE
            v_idx bigint;
            v_found bigint;
        BEGIN
            ok := true; modify_index := 0; keys := ARRAY[]::text[];
            IF p_recurse THEN
                PERFORM 1 FROM catalog.kv k WHERE k.key LIKE catalog.kv_like(p_key) LIMIT 1;
                IF NOT FOUND THEN
                    RETURN NEXT; RETURN;
                END IF;
                v_idx := catalog.next_index();
                WITH gone AS (DELETE FROM catalog.kv k WHERE k.key LIKE catalog.kv_like(p_key) RETURNING k.key)
                SELECT array_agg(g.key) INTO keys FROM gone g;
            ELSE
                PERFORM pg_advisory_xact_lock(hashtextextended('catalog.kv:' || p_key, 0));
                SELECT k.modify_index INTO v_found FROM catalog.kv k WHERE k.key = p_key;
                IF NOT FOUND THEN
                    RETURN NEXT; RETURN;
                END IF;
                IF p_cas IS NOT NULL AND v_found <> p_cas THEN
                    ok := false;
                    RETURN NEXT; RETURN;
                END IF;
                v_idx := catalog.next_index();
                DELETE FROM catalog.kv k WHERE k.key = p_key;
                keys := ARRAY[p_key];
            END IF;
            INSERT INTO catalog.kv_tombstones AS t (key, modify_index)
            SELECT k, v_idx FROM unnest(keys) AS k
            ON CONFLICT (key) DO UPDATE SET modify_index = EXCLUDED.modify_index, deleted_at = now();
            modify_index := v_idx;
            RETURN NEXT;
        END
        $fn$
        """,
        // The highest index of the keys under p_prefix, deleted ones included (0: none). Deleted
        // keys whose tombstones were collected count at the KV floor, so the answer never goes back.
        """
        CREATE FUNCTION catalog.kv_prefix_index(p_prefix text) RETURNS bigint LANGUAGE sql STABLE AS $fn$
            SELECT GREATEST(
                (SELECT COALESCE(max(k.modify_index), 0) FROM catalog.kv k WHERE k.key LIKE catalog.kv_like(p_prefix)),
                (SELECT COALESCE(max(t.modify_index), 0) FROM catalog.kv_tombstones t
                  WHERE t.key LIKE catalog.kv_like(p_prefix)),
                (SELECT COALESCE(max(f.modify_index), 0) FROM catalog.index_floors f WHERE f.topic = 'kv'))
        $fn$
        """,
        // Collects KV tombstones older than p_older_than, raising the KV floor past them.
        """
        CREATE FUNCTION catalog.gc_kv_tombstones(p_older_than interval) RETURNS void LANGUAGE plpgsql AS $fn$
        BEGIN
            WITH gone AS (
                DELETE FROM catalog.kv_tombstones t WHERE t.deleted_at < now() - p_older_than
                RETURNING t.modify_index)
            INSERT INTO catalog.index_floors AS f (topic, modify_index)
            SELECT 'kv', max(g.modify_index) FROM gone g HAVING count(*) > 0
            ON CONFLICT (topic) DO UPDATE SET modify_index = GREATEST(f.modify_index, EXCLUDED.modify_index);
        END
        $fn$
        """,
        // Ends sessions: the keys they hold are released (or deleted, for Behavior "delete") and
        // may not be acquired again for the session's lock-delay (at most 60 s, as in Consul).
        // Returns the keys touched.
        """
        CREATE FUNCTION catalog.session_end(p_ids text[], p_idx bigint) RETURNS text[] LANGUAGE plpgsql AS $fn$
        DECLARE
            s record;
            v_keys text[] := ARRAY[]::text[];
            v_some text[];
        BEGIN
            FOR s IN SELECT * FROM catalog.sessions x WHERE x.id = ANY(p_ids) ORDER BY x.id FOR UPDATE LOOP
                IF s.lock_delay_ms > 0 THEN
                    INSERT INTO catalog.kv_lock_delays AS d (key, until)
                    SELECT k.key, now() + LEAST(s.lock_delay_ms, 60000) * interval '1 millisecond' FROM catalog.kv k
                     WHERE k.session = s.id
                    ON CONFLICT (key) DO UPDATE SET until = GREATEST(d.until, EXCLUDED.until);
                END IF;
                IF s.behavior = 'delete' THEN
                    WITH gone AS (DELETE FROM catalog.kv k WHERE k.session = s.id RETURNING k.key)
                    SELECT COALESCE(array_agg(g.key), ARRAY[]::text[]) INTO v_some FROM gone g;
                    INSERT INTO catalog.kv_tombstones AS t (key, modify_index)
                    SELECT k, p_idx FROM unnest(v_some) AS k
                    ON CONFLICT (key) DO UPDATE SET modify_index = EXCLUDED.modify_index, deleted_at = now();
                ELSE
                    WITH released AS (
                        UPDATE catalog.kv k SET session = NULL, modify_index = p_idx WHERE k.session = s.id
                        RETURNING k.key)
                    SELECT COALESCE(array_agg(r.key), ARRAY[]::text[]) INTO v_some FROM released r;
                END IF;
                v_keys := v_keys || v_some;
                DELETE FROM catalog.sessions x WHERE x.id = s.id;
            END LOOP;
            -- Session listings report at least this index, so that their index moves past an end.
            INSERT INTO catalog.index_floors AS f (topic, modify_index) VALUES ('sessions', p_idx)
            ON CONFLICT (topic) DO UPDATE SET modify_index = GREATEST(f.modify_index, EXCLUDED.modify_index);
            DELETE FROM catalog.kv_lock_delays d WHERE d.until < now();
            RETURN v_keys;
        END
        $fn$
        """,
        // Creates a session after checking, as Consul does, that its node exists and that none of
        // its checks is missing or critical (SQLSTATE MS422 with Consul's message otherwise). The
        // rows read are share-locked, so a check turning critical meanwhile ends the new session.
        """
        CREATE FUNCTION catalog.session_create(p_id text, p_name text, p_node text, p_node_checks text[],
                                               p_service_checks text[], p_lock_delay_ms bigint, p_behavior text,
                                               p_ttl text, p_ttl_ms bigint)
        RETURNS bigint LANGUAGE plpgsql AS $fn$
        DECLARE
            v_idx bigint;
            v_check text;
            v_status text;
        BEGIN
            IF p_node <> '' THEN
                PERFORM 1 FROM catalog.nodes n WHERE n.name = p_node FOR SHARE;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'Missing node registration' USING ERRCODE = 'MS422';
                END IF;
                FOREACH v_check IN ARRAY p_node_checks || p_service_checks LOOP
                    IF v_check = 'serfHealth' THEN
                        PERFORM 1 FROM catalog.checks c
                         WHERE c.node = p_node AND c.check_id LIKE '%:agent-alive' AND c.status = 'critical' FOR SHARE;
                        IF FOUND THEN
                            RAISE EXCEPTION 'Check ''%'' is in critical state', v_check USING ERRCODE = 'MS422';
                        END IF;
                        CONTINUE;
                    END IF;
                    SELECT c.status INTO v_status FROM catalog.checks c
                     WHERE c.node = p_node AND c.check_id = v_check FOR SHARE;
                    IF NOT FOUND THEN
                        RAISE EXCEPTION 'Missing check ''%'' registration', v_check USING ERRCODE = 'MS422';
                    END IF;
                    IF v_status = 'critical' THEN
                        RAISE EXCEPTION 'Check ''%'' is in critical state', v_check USING ERRCODE = 'MS422';
                    END IF;
                END LOOP;
            END IF;
            v_idx := catalog.next_index();
            INSERT INTO catalog.sessions VALUES (
                p_id, p_name, p_node, p_node_checks, p_service_checks, p_lock_delay_ms, p_behavior, p_ttl, p_ttl_ms,
                CASE WHEN p_ttl_ms IS NULL THEN NULL ELSE now() + 2 * p_ttl_ms * interval '1 millisecond' END,
                v_idx, v_idx);
            RETURN v_idx;
        END
        $fn$
        """,
        // Destroys one session; (0, no keys) when it does not exist.
        """
        CREATE FUNCTION catalog.session_destroy(p_id text)
        RETURNS TABLE (modify_index bigint, keys text[]) LANGUAGE plpgsql AS $fn$
        BEGIN
            modify_index := 0; keys := ARRAY[]::text[];
            PERFORM 1 FROM catalog.sessions s WHERE s.id = p_id;
            IF FOUND THEN
                modify_index := catalog.next_index();
                keys := catalog.session_end(ARRAY[p_id], modify_index);
            END IF;
            RETURN NEXT;
        END
        $fn$
        """,
        // Ends the sessions whose TTL lapsed (run by the leader).
        """
        CREATE FUNCTION catalog.sessions_expire()
        RETURNS TABLE (modify_index bigint, keys text[]) LANGUAGE plpgsql AS $fn$
        DECLARE
            v_ids text[];
        BEGIN
            modify_index := 0; keys := ARRAY[]::text[];
            SELECT array_agg(s.id) INTO v_ids FROM catalog.sessions s WHERE s.ttl_deadline < now();
            IF v_ids IS NOT NULL THEN
                modify_index := catalog.next_index();
                keys := catalog.session_end(v_ids, modify_index);
            END IF;
            RETURN NEXT;
        END
        $fn$
        """,
        // Ends the sessions on p_node that depend on p_check_id (p_check_id NULL: every session
        // on the node), and announces the change. A session's "serfHealth" stands for the node's
        // agent-liveness checks (`<service ID>:agent-alive`, kept passing by mesh-agent).
        """
        CREATE FUNCTION catalog.sessions_invalidate(p_node text, p_check_id text) RETURNS void LANGUAGE plpgsql AS $fn$
        DECLARE
            v_ids text[];
            v_idx bigint;
            v_keys text[];
        BEGIN
            SELECT array_agg(s.id) INTO v_ids FROM catalog.sessions s
             WHERE s.node = p_node
               AND (p_check_id IS NULL OR p_check_id = ANY(s.node_checks) OR p_check_id = ANY(s.service_checks)
                    OR ('serfHealth' = ANY(s.node_checks) AND p_check_id LIKE '%:agent-alive'));
            IF v_ids IS NULL THEN
                RETURN;
            END IF;
            v_idx := catalog.next_index();
            v_keys := catalog.session_end(v_ids, v_idx);
            PERFORM pg_notify('\(CatalogMigrations.schema.channel)',
                              catalog.notify_payload(v_idx, catalog.kv_topics(v_keys) || ARRAY['sessions']));
        END
        $fn$
        """,
        """
        CREATE FUNCTION catalog.checks_end_sessions() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                PERFORM catalog.sessions_invalidate(OLD.node, OLD.check_id);
            ELSIF NEW.status = 'critical' AND OLD.status <> 'critical' THEN
                PERFORM catalog.sessions_invalidate(NEW.node, NEW.check_id);
            END IF;
            RETURN NULL;
        END
        $fn$
        """,
        """
        CREATE FUNCTION catalog.nodes_end_sessions() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            PERFORM catalog.sessions_invalidate(OLD.name, NULL);
            RETURN NULL;
        END
        $fn$
        """,
    ]

    static let triggers = [
        """
        CREATE TRIGGER checks_end_sessions AFTER UPDATE OF status OR DELETE ON catalog.checks
        FOR EACH ROW EXECUTE FUNCTION catalog.checks_end_sessions()
        """,
        """
        CREATE TRIGGER nodes_end_sessions AFTER DELETE ON catalog.nodes
        FOR EACH ROW EXECUTE FUNCTION catalog.nodes_end_sessions()
        """,
    ]
}
