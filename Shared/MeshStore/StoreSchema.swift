/// A service's PostgreSQL schema and the keys derived from it.
///
/// Every service owns one schema; no other service reads or writes it. The schema carries its
/// own modify-index sequence and the advisory-lock keys of its migrations, its in-flight writes
/// and its leader.
public struct StoreSchema: Sendable, Hashable {
    /// The schema name, a trusted SQL identifier (`catalog`, `ca`, `authz`, `iam_auth`).
    public let name: String
    /// A small number unique among our schemas (1...255); namespaces the advisory-lock keys.
    public let tag: Int64

    public init(name: String, tag: Int64) {
        precondition(name.allSatisfy { $0.isLetter || $0 == "_" }, "schema names are plain identifiers")
        precondition((1...255).contains(tag), "schema tags are 1...255")
        self.name = name
        self.tag = tag
    }

    /// The prefix of every advisory-lock key of ours ("me", 0x6d65), so that keys of other
    /// software sharing the database do not collide.
    static let keyPrefix: Int64 = 0x6d65

    /// Bits 40 and up of an in-flight-write lock key; the low 40 bits hold an index.
    public var inflightKeyHigh: Int64 { (Self.keyPrefix << 8) | self.tag }

    /// The prefix of our control locks (migrations, leadership), kept apart from the in-flight
    /// write keys, whose low bits are indexes and would otherwise collide with them.
    static let controlPrefix: Int64 = 0x6d66

    /// The lock key that serializes this schema's migrations.
    public var migrationLockKey: Int64 { (Self.controlPrefix << 48) | (self.tag << 40) | 1 }

    /// The lock key held by this schema's leader for its whole term.
    public var leaderLockKey: Int64 { (Self.controlPrefix << 48) | (self.tag << 40) | 2 }

    /// The sequence that hands out modify indexes.
    public var sequence: String { "\(self.name).modify_index" }

    /// The notification channel of this schema's change feed.
    public var channel: String { "mesh_\(self.name)_changes" }
}
