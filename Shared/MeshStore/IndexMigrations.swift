/// The modify-index machinery every schema gets as its first migration.
///
/// Why it is more than a sequence: writers take indexes from a sequence without waiting for
/// each other, so they may commit out of order (index 11 visible before index 10). A reader
/// that reported "11" would never learn of 10. So each writer, before it draws its index,
/// takes a shared transaction-level advisory lock keyed by the sequence's current value, and
/// readers report at most the *stable index*: the lowest such key still held, or the sequence
/// value when none is. Every write with an index at or below the stable index is finished
/// (committed or rolled back), so a snapshot taken afterwards sees all of them.
///
/// The sequence is read before the lock table, and the snapshot is taken after both: a write
/// with index I <= stable either held its lock during the lock scan (then stable < I) or had
/// finished before it (then the snapshot sees it). Writers never wait for each other.
public enum IndexMigrations {
    /// The SQL that creates the sequence, `next_index()` for writers and `stable_index()` for readers.
    public static func statements(for schema: StoreSchema) -> [String] {
        let s = schema.name
        let high = schema.inflightKeyHigh
        return [
            // Start at 1 and mark it used, so that nextval() is always above last_value.
            "CREATE SEQUENCE \(s).modify_index AS bigint MINVALUE 1 START 1",
            "SELECT nextval('\(s).modify_index')",
            """
            CREATE FUNCTION \(s).next_index() RETURNS bigint LANGUAGE plpgsql AS $fn$
            DECLARE
                floor_value bigint;
            BEGIN
                SELECT last_value INTO floor_value FROM \(s).modify_index;
                PERFORM pg_advisory_xact_lock_shared((\(high)::bigint << 40) | floor_value);
                RETURN nextval('\(s).modify_index');
            END
            $fn$
            """,
            """
            CREATE FUNCTION \(s).stable_index() RETURNS bigint LANGUAGE plpgsql AS $fn$
            DECLARE
                sequence_value bigint;
                oldest_inflight bigint;
            BEGIN
                SELECT last_value INTO sequence_value FROM \(s).modify_index;
                SELECT min(((l.classid::bigint << 32) | l.objid::bigint) & ((1::bigint << 40) - 1))
                  INTO oldest_inflight
                  FROM pg_locks l
                 WHERE l.locktype = 'advisory' AND l.objsubid = 1
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND (l.classid::bigint >> 8) = \(high);
                RETURN LEAST(sequence_value, COALESCE(oldest_inflight, sequence_value));
            END
            $fn$
            """,
        ]
    }
}
