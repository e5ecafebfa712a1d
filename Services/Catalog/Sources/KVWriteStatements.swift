import PostgresNIO

/// What a KV write answers: whether it held, the index it drew (0: nothing changed) and the
/// keys it touched.
struct KVWritten: Sendable {
    var ok: Bool
    var index: Int64
    var keys: [String]

    init(_ row: PostgresRow) throws {
        (self.ok, self.index, self.keys) = try row.decode((Bool, Int64, [String]).self)
    }
}

/// A call of `catalog.kv_set`, prepared once per connection: a parse per call costs PostgreSQL
/// about a third of a write (docs/BENCHMARKS.md, issue 17).
struct KVSetStatement: PostgresPreparedStatement {
    static let name = "mesh_kv_set"
    static let sql = "SELECT ok, modify_index, keys FROM catalog.kv_set($1, $2, $3, $4, $5, $6)"
    static let bindingDataTypes: [PostgresDataType] = [.text, .bytea, .int8, .int8, .text, .text]

    var key: String
    var value: [UInt8]
    var flags: UInt64
    var cas: UInt64?
    var lock: CatalogStore.KVLock

    func makeBindings() throws -> PostgresBindings {
        let (acquire, release): (String?, String?) =
            switch self.lock {
            case .none: (nil, nil)
            case .acquire(let session): (session, nil)
            case .release(let session): (nil, session)
            }
        var bindings = PostgresBindings(capacity: 6)
        bindings.append(self.key)
        bindings.append(ByteBuffer(bytes: self.value))
        bindings.append(Int64(bitPattern: self.flags))
        bindings.append(self.cas.map { Int64(bitPattern: $0) })
        bindings.append(acquire)
        bindings.append(release)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> KVWritten { try KVWritten(row) }
}

/// A call of `catalog.kv_delete` (with `recurse`, every key under `key`), prepared once per
/// connection.
struct KVDeleteStatement: PostgresPreparedStatement {
    static let name = "mesh_kv_delete"
    static let sql = "SELECT ok, modify_index, keys FROM catalog.kv_delete($1, $2, $3)"
    static let bindingDataTypes: [PostgresDataType] = [.text, .bool, .int8]

    var key: String
    var recurse: Bool
    var cas: UInt64?

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(self.key)
        bindings.append(self.recurse)
        bindings.append(self.cas.map { Int64(bitPattern: $0) })
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> KVWritten { try KVWritten(row) }
}
