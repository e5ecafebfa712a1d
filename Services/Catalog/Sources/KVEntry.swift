import Foundation
import MeshCore
import MeshStore

/// One KV entry, encoded as Consul's `DirEntry` (`Value` in base64 or null, `Session` only
/// when held). Flags are a full `UInt64` on the wire: `consul lock` marks its keys with a
/// value beyond a double's precision.
struct KVEntry: Sendable, Equatable, Encodable {
    var key: String
    var flags: UInt64
    var value: [UInt8]?
    var session: String?
    var lockIndex: UInt64
    var createIndex: ModifyIndex
    var modifyIndex: ModifyIndex

    enum CodingKeys: String, CodingKey {
        case lockIndex = "LockIndex"
        case key = "Key"
        case flags = "Flags"
        case value = "Value"
        case session = "Session"
        case createIndex = "CreateIndex"
        case modifyIndex = "ModifyIndex"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.lockIndex, forKey: .lockIndex)
        try container.encode(self.key, forKey: .key)
        try container.encode(self.flags, forKey: .flags)
        if let value = self.value {
            try container.encode(Data(value).base64EncodedString(), forKey: .value)
        } else {
            try container.encodeNil(forKey: .value)
        }
        if let session = self.session { try container.encode(session, forKey: .session) }
        try container.encode(self.createIndex, forKey: .createIndex)
        try container.encode(self.modifyIndex, forKey: .modifyIndex)
    }
}

/// The KV rules that need no store: key listings with a separator, and the change-feed topics.
enum KVKeys {
    /// Consul's largest value (`kv_max_value_size`).
    static let maximumValueSize = 512 * 1024

    /// The keys under `prefix`, each cut after the first `separator` that follows the prefix
    /// (so a folder is listed once), sorted and without repeats (`GET /v1/kv/:prefix?keys`).
    static func list(_ keys: [String], prefix: String, separator: String?) -> [String] {
        var listed: [String] = []
        var seen = Set<String>()
        for key in keys.sorted() where key.hasPrefix(prefix) {
            var shown = key
            if let separator, !separator.isEmpty {
                let rest = key.dropFirst(prefix.count)
                if let range = rest.range(of: separator) {
                    shown = prefix + String(rest[..<range.upperBound])
                }
            }
            if seen.insert(shown).inserted { listed.append(shown) }
        }
        return listed
    }

    /// The topic a read of one key waits on; every write of the key announces it.
    static func keyTopic(_ key: String) -> ChangeTopic {
        ChangeTopic("kv:" + Self.escaped(key))
    }

    /// The topic a read of the keys under `prefix` waits on: that of the prefix cut after its
    /// last `/`, which every write of a key under it announces (a prefix not ending at a `/`
    /// also wakes for its siblings, and the read then finds nothing new and waits on).
    static func prefixTopic(_ prefix: String) -> ChangeTopic {
        let boundary = prefix.lastIndex(of: "/").map { prefix[...$0] } ?? ""
        return ChangeTopic("kvp:" + Self.escaped(String(boundary)))
    }

    /// The topics a write of `keys` announces (as `catalog.kv_topics` computes them).
    static func topics(of keys: [String]) -> Set<ChangeTopic> {
        var topics = Set<ChangeTopic>()
        for key in keys {
            topics.insert(Self.keyTopic(key))
            topics.insert(ChangeTopic("kvp:"))
            var prefix = ""
            for character in key {
                prefix.append(character)
                if character == "/" { topics.insert(ChangeTopic("kvp:" + Self.escaped(prefix))) }
            }
        }
        return topics
    }

    /// Keys travel in notification lines: `%` and newlines are escaped.
    static func escaped(_ key: String) -> String {
        key.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\n", with: "%0A")
    }
}
