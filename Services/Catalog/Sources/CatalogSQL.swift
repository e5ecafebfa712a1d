import Foundation

/// The catalog's write functions (see `CatalogMigrations`).
///
/// Custom SQLSTATEs: `MS400` (the request names something that cannot be used; the message
/// names the field) and `MS404` (unknown object).
enum CatalogSQL {
    /// The topics of every service on a node (a change to the node or its own checks changes their health).
    static let nodeServiceTopics =
        "ARRAY(SELECT DISTINCT 'svc:' || s.name FROM catalog.services s WHERE s.node = %NODE%)"

    static func servicesOf(_ node: String) -> String {
        Self.nodeServiceTopics.replacingOccurrences(of: "%NODE%", with: node)
    }

    static let functions: [String] = [
        // The topics a change to one check touches: a service check changes its service's
        // health; a node check changes the health of every service on the node.
        """
        CREATE FUNCTION catalog.check_topics(p_node text, p_service_name text)
        RETURNS text[] LANGUAGE sql STABLE AS $fn$
            SELECT ARRAY['checks', 'node:' || p_node]
                || CASE WHEN p_service_name <> '' THEN ARRAY['svc:' || p_service_name]
                        ELSE \(servicesOf("p_node")) END
        $fn$
        """,
        """
        CREATE FUNCTION catalog.register(p_node jsonb, p_service jsonb, p_checks jsonb, p_skip_node boolean)
        RETURNS TABLE (modify_index bigint, topics text[]) LANGUAGE plpgsql AS $fn$
        DECLARE
            v_idx bigint := catalog.next_index();
            v_node text := p_node->>'name';
            v_topics text[] := ARRAY[]::text[];
            v_count integer;
            v_old_name text;
            v_old_body jsonb;
            v_check jsonb;
            v_svc record;
            v_status text;
            v_ttl bigint;
            v_dereg bigint;
            v_service_name text;
        BEGIN
            IF p_skip_node THEN
                PERFORM 1 FROM catalog.nodes n WHERE n.name = v_node;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'Node: unknown node "%" (SkipNodeUpdate needs a registered node)', v_node
                        USING ERRCODE = 'MS400';
                END IF;
            ELSE
                -- A plain read first: re-registering an unchanged node (the common case) then
                -- writes nothing, where an upsert would still lock and dirty the row.
                PERFORM 1 FROM catalog.nodes n
                 WHERE n.name = v_node
                   AND (n.node_id, n.address, n.datacenter, n.tagged_addresses, n.meta) IS NOT DISTINCT FROM
                       (COALESCE(p_node->>'id', ''), p_node->>'address', COALESCE(p_node->>'datacenter', ''),
                        COALESCE(p_node->'taggedAddresses', '{}'), COALESCE(p_node->'meta', '{}'));
                IF NOT FOUND THEN
                    INSERT INTO catalog.nodes AS n
                        (name, node_id, address, datacenter, tagged_addresses, meta, create_index, modify_index)
                    VALUES (v_node, COALESCE(p_node->>'id', ''), p_node->>'address', COALESCE(p_node->>'datacenter', ''),
                            COALESCE(p_node->'taggedAddresses', '{}'), COALESCE(p_node->'meta', '{}'), v_idx, v_idx)
                    ON CONFLICT (name) DO UPDATE SET
                        node_id = EXCLUDED.node_id, address = EXCLUDED.address, datacenter = EXCLUDED.datacenter,
                        tagged_addresses = EXCLUDED.tagged_addresses, meta = EXCLUDED.meta,
                        modify_index = EXCLUDED.modify_index
                    WHERE (n.node_id, n.address, n.datacenter, n.tagged_addresses, n.meta) IS DISTINCT FROM
                          (EXCLUDED.node_id, EXCLUDED.address, EXCLUDED.datacenter, EXCLUDED.tagged_addresses,
                           EXCLUDED.meta);
                    GET DIAGNOSTICS v_count = ROW_COUNT;
                    IF v_count > 0 THEN
                        v_topics := v_topics || ARRAY['nodes', 'node:' || v_node] || \(servicesOf("v_node"));
                    END IF;
                END IF;
            END IF;

            IF p_service IS NOT NULL THEN
                SELECT s.name, s.body INTO v_old_name, v_old_body FROM catalog.services s
                 WHERE s.node = v_node AND s.service_id = p_service->>'id';
                v_count := 0;
                IF v_old_body IS DISTINCT FROM p_service OR v_old_name IS DISTINCT FROM p_service->>'name' THEN
                    INSERT INTO catalog.services AS s (node, service_id, name, body, create_index, modify_index)
                    VALUES (v_node, p_service->>'id', p_service->>'name', p_service, v_idx, v_idx)
                    ON CONFLICT (node, service_id) DO UPDATE SET
                        name = EXCLUDED.name, body = EXCLUDED.body, modify_index = EXCLUDED.modify_index
                    WHERE (s.name, s.body) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.body);
                    GET DIAGNOSTICS v_count = ROW_COUNT;
                END IF;
                IF v_count > 0 THEN
                    v_topics := v_topics || ARRAY['services', 'node:' || v_node, 'svc:' || (p_service->>'name')];
                    IF v_old_name IS NOT NULL AND v_old_name <> p_service->>'name' THEN
                        INSERT INTO catalog.tombstones (node, service_name, kind, modify_index)
                        VALUES (v_node, v_old_name, 'service', v_idx);
                        v_topics := v_topics || ('svc:' || v_old_name);
                    END IF;
                    -- The instance's checks carry its name and tags.
                    UPDATE catalog.checks c SET
                        service_name = p_service->>'name',
                        body = c.body || jsonb_build_object('serviceName', p_service->>'name',
                                                            'serviceTags', p_service->'tags'),
                        modify_index = v_idx
                     WHERE c.node = v_node AND c.service_id = p_service->>'id'
                       AND (c.service_name, c.body->'serviceTags') IS DISTINCT FROM
                           (p_service->>'name', p_service->'tags');
                    IF FOUND THEN
                        v_topics := v_topics || ARRAY['checks'];
                    END IF;
                END IF;
            END IF;

            FOR v_check IN SELECT value FROM jsonb_array_elements(COALESCE(p_checks, '[]'::jsonb)) LOOP
                v_service_name := '';
                IF COALESCE(v_check->>'serviceID', '') <> '' THEN
                    SELECT s.name, s.body->'tags' AS tags INTO v_svc FROM catalog.services s
                     WHERE s.node = v_node AND s.service_id = v_check->>'serviceID';
                    IF NOT FOUND THEN
                        RAISE EXCEPTION 'Checks.ServiceID: unknown service ID "%" for check ID "%"',
                            v_check->>'serviceID', v_check->>'checkID' USING ERRCODE = 'MS400';
                    END IF;
                    v_service_name := v_svc.name;
                    v_check := v_check || jsonb_build_object('serviceName', v_svc.name, 'serviceTags', v_svc.tags);
                END IF;
                v_status := v_check->>'status';
                v_ttl := NULLIF((v_check->'definition'->>'ttlMs')::bigint, 0);
                v_dereg := NULLIF((v_check->'definition'->>'deregisterCriticalServiceAfterMs')::bigint, 0);
                INSERT INTO catalog.checks AS c
                    (node, check_id, service_id, service_name, status, output, body, ttl_ms, ttl_deadline,
                     critical_since, deregister_after_ms, create_index, modify_index)
                VALUES (v_node, v_check->>'checkID', COALESCE(v_check->>'serviceID', ''), v_service_name, v_status,
                        COALESCE(v_check->>'output', ''), v_check, v_ttl,
                        CASE WHEN v_ttl IS NULL THEN NULL ELSE now() + v_ttl * interval '1 millisecond' END,
                        CASE WHEN v_status = 'critical' THEN now() END, v_dereg, v_idx, v_idx)
                ON CONFLICT (node, check_id) DO UPDATE SET
                    service_id = EXCLUDED.service_id, service_name = EXCLUDED.service_name,
                    status = EXCLUDED.status, output = EXCLUDED.output, body = EXCLUDED.body,
                    ttl_ms = EXCLUDED.ttl_ms, ttl_deadline = EXCLUDED.ttl_deadline,
                    critical_since = CASE WHEN EXCLUDED.status = 'critical' THEN COALESCE(c.critical_since, now()) END,
                    deregister_after_ms = EXCLUDED.deregister_after_ms, modify_index = EXCLUDED.modify_index
                WHERE (c.service_id, c.service_name, c.status, c.output, c.body) IS DISTINCT FROM
                      (EXCLUDED.service_id, EXCLUDED.service_name, EXCLUDED.status, EXCLUDED.output, EXCLUDED.body);
                GET DIAGNOSTICS v_count = ROW_COUNT;
                IF v_count > 0 THEN
                    v_topics := v_topics || catalog.check_topics(v_node, v_service_name);
                END IF;
            END LOOP;
            modify_index := v_idx;
            topics := ARRAY(SELECT DISTINCT t FROM unnest(v_topics) AS t);
            RETURN NEXT;
        END
        $fn$
        """,
        """
        CREATE FUNCTION catalog.deregister(p_node text, p_service_id text, p_check_id text)
        RETURNS TABLE (modify_index bigint, topics text[]) LANGUAGE plpgsql AS $fn$
        DECLARE
            v_idx bigint := 0;
            v_topics text[] := ARRAY[]::text[];
            v_name text;
            v_check record;
        BEGIN
            IF COALESCE(p_service_id, '') <> '' THEN
                SELECT s.name INTO v_name FROM catalog.services s
                 WHERE s.node = p_node AND s.service_id = p_service_id FOR UPDATE;
                IF FOUND THEN
                    v_idx := catalog.next_index();
                    DELETE FROM catalog.checks c WHERE c.node = p_node AND c.service_id = p_service_id;
                    DELETE FROM catalog.services s WHERE s.node = p_node AND s.service_id = p_service_id;
                    INSERT INTO catalog.tombstones (node, service_name, kind, modify_index)
                    VALUES (p_node, v_name, 'service', v_idx);
                    v_topics := ARRAY['services', 'checks', 'node:' || p_node, 'svc:' || v_name];
                END IF;
            ELSIF COALESCE(p_check_id, '') <> '' THEN
                SELECT c.service_id, c.service_name INTO v_check FROM catalog.checks c
                 WHERE c.node = p_node AND c.check_id = p_check_id FOR UPDATE;
                IF FOUND THEN
                    v_idx := catalog.next_index();
                    DELETE FROM catalog.checks c WHERE c.node = p_node AND c.check_id = p_check_id;
                    v_topics := catalog.check_topics(p_node, v_check.service_name);
                    IF v_check.service_id <> '' THEN
                        INSERT INTO catalog.tombstones (node, service_name, kind, modify_index)
                        VALUES (p_node, v_check.service_name, 'check', v_idx);
                    ELSE
                        INSERT INTO catalog.tombstones (node, service_name, kind, modify_index)
                        SELECT DISTINCT p_node, s.name, 'check', v_idx FROM catalog.services s WHERE s.node = p_node;
                        INSERT INTO catalog.tombstones (node, service_name, kind, modify_index)
                        VALUES (p_node, '', 'check', v_idx);
                    END IF;
                END IF;
            ELSE
                PERFORM 1 FROM catalog.nodes n WHERE n.name = p_node FOR UPDATE;
                IF FOUND THEN
                    v_idx := catalog.next_index();
                    v_topics := ARRAY['nodes', 'services', 'checks', 'node:' || p_node] || \(servicesOf("p_node"));
                    INSERT INTO catalog.tombstones (node, service_name, kind, modify_index)
                    SELECT DISTINCT p_node, s.name, 'service', v_idx FROM catalog.services s WHERE s.node = p_node;
                    INSERT INTO catalog.tombstones (node, service_name, kind, modify_index)
                    VALUES (p_node, '', 'node', v_idx);
                    DELETE FROM catalog.nodes n WHERE n.name = p_node;
                END IF;
            END IF;
            modify_index := v_idx;
            topics := v_topics;
            RETURN NEXT;
        END
        $fn$
        """,
        """
        CREATE FUNCTION catalog.update_ttl(p_node text, p_check_id text, p_status text, p_output text)
        RETURNS TABLE (modify_index bigint, topics text[], outcome text) LANGUAGE plpgsql AS $fn$
        DECLARE
            v_matches integer;
            v_check record;
            v_idx bigint := 0;
            v_topics text[] := ARRAY[]::text[];
        BEGIN
            SELECT count(*) INTO v_matches FROM catalog.checks c
             WHERE c.check_id = p_check_id AND (p_node = '' OR c.node = p_node);
            IF v_matches <> 1 THEN
                modify_index := 0;
                topics := v_topics;
                outcome := CASE WHEN v_matches = 0 THEN 'unknown' ELSE 'ambiguous' END;
                RETURN NEXT;
                RETURN;
            END IF;
            SELECT c.node, c.service_id, c.service_name, c.status, c.output, c.ttl_ms INTO v_check
              FROM catalog.checks c
             WHERE c.check_id = p_check_id AND (p_node = '' OR c.node = p_node) FOR UPDATE;
            IF v_check.ttl_ms IS NULL THEN
                modify_index := 0;
                topics := v_topics;
                outcome := 'not_ttl';
                RETURN NEXT;
                RETURN;
            END IF;
            IF (v_check.status, v_check.output) IS DISTINCT FROM (p_status, p_output) THEN
                v_idx := catalog.next_index();
                UPDATE catalog.checks c SET
                    status = p_status, output = p_output,
                    body = c.body || jsonb_build_object('status', p_status, 'output', p_output),
                    ttl_deadline = now() + c.ttl_ms * interval '1 millisecond',
                    critical_since = CASE WHEN p_status = 'critical' THEN COALESCE(c.critical_since, now()) END,
                    modify_index = v_idx
                 WHERE c.node = v_check.node AND c.check_id = p_check_id;
                v_topics := catalog.check_topics(v_check.node, v_check.service_name);
            ELSE
                UPDATE catalog.checks c SET ttl_deadline = now() + c.ttl_ms * interval '1 millisecond'
                 WHERE c.node = v_check.node AND c.check_id = p_check_id;
            END IF;
            modify_index := v_idx;
            topics := v_topics;
            outcome := 'ok';
            RETURN NEXT;
        END
        $fn$
        """,
        """
        CREATE FUNCTION catalog.reap_expired()
        RETURNS TABLE (modify_index bigint, topics text[]) LANGUAGE plpgsql AS $fn$
        DECLARE
            v_idx bigint := 0;
            v_topics text[] := ARRAY[]::text[];
            r record;
            d record;
        BEGIN
            FOR r IN SELECT c.node, c.check_id, c.service_id, c.service_name FROM catalog.checks c
                      WHERE c.ttl_deadline < now() AND c.status <> 'critical'
                      FOR UPDATE SKIP LOCKED LOOP
                IF v_idx = 0 THEN
                    v_idx := catalog.next_index();
                END IF;
                UPDATE catalog.checks c SET
                    status = 'critical', output = 'TTL expired',
                    body = c.body || jsonb_build_object('status', 'critical', 'output', 'TTL expired'),
                    critical_since = COALESCE(c.critical_since, now()), modify_index = v_idx
                 WHERE c.node = r.node AND c.check_id = r.check_id;
                v_topics := v_topics || catalog.check_topics(r.node, r.service_name);
            END LOOP;
            FOR r IN SELECT DISTINCT c.node, c.service_id FROM catalog.checks c
                      WHERE c.deregister_after_ms IS NOT NULL AND c.status = 'critical' AND c.service_id <> ''
                        AND c.critical_since + c.deregister_after_ms * interval '1 millisecond' < now() LOOP
                SELECT * INTO d FROM catalog.deregister(r.node, r.service_id, NULL);
                v_topics := v_topics || d.topics;
                v_idx := GREATEST(v_idx, d.modify_index);
            END LOOP;
            modify_index := v_idx;
            topics := ARRAY(SELECT DISTINCT t FROM unnest(v_topics) AS t);
            RETURN NEXT;
        END
        $fn$
        """,
        """
        CREATE FUNCTION catalog.gc_tombstones(p_older_than interval) RETURNS integer LANGUAGE plpgsql AS $fn$
        DECLARE
            v_count integer;
        BEGIN
            WITH gone AS (
                DELETE FROM catalog.tombstones t WHERE t.deleted_at < now() - p_older_than
                RETURNING t.node, t.service_name, t.modify_index),
            floors AS (
                SELECT 'svc:' || g.service_name AS topic, max(g.modify_index) AS m FROM gone g
                 WHERE g.service_name <> '' GROUP BY 1
                UNION ALL
                SELECT 'node:' || g.node, max(g.modify_index) FROM gone g GROUP BY 1
                UNION ALL
                SELECT 'catalog', max(g.modify_index) FROM gone g HAVING count(*) > 0)
            INSERT INTO catalog.index_floors AS f (topic, modify_index)
            SELECT fl.topic, max(fl.m) FROM floors fl GROUP BY fl.topic
            ON CONFLICT (topic) DO UPDATE SET modify_index = GREATEST(f.modify_index, EXCLUDED.modify_index);
            GET DIAGNOSTICS v_count = ROW_COUNT;
            RETURN v_count;
        END
        $fn$
        """,
    ]
}
