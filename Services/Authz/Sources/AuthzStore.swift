import Crypto
import Foundation
import Logging
import MeshCore
import MeshStore
import NIOCore
import PostgresNIO

/// The authz schema's PostgreSQL access: ACL tokens, policies, roles and intentions.
///
/// Every write is one transaction that draws one index, and publishes its topic to the change
/// feed after commit (`acl` for tokens, policies and roles; `intentions`). ACL writes are rare
/// and small, so they are plain SQL from here rather than stored functions.
struct AuthzStore: Sendable {
    static let schema = AuthzMigrations.schema
    static let aclTopic = ChangeTopic("acl")
    static let intentionsTopic = ChangeTopic("intentions")

    let client: PostgresClient
    let feed: ChangeFeed
    let logger: Logger

    static let encoder = JSONEncoder()
    static let decoder = JSONDecoder()

    /// The SHA-256 of a secret, which is all the store keeps of it.
    static func secretHash(_ secret: String) -> ByteBuffer {
        ByteBuffer(bytes: Array(SHA256.hash(data: Array(secret.utf8))))
    }

    /// A new random ID in Consul's lowercase UUID form.
    static func newID() -> String { UUID().uuidString.lowercased() }

    static func isUUID(_ text: String) -> Bool {
        text.count == 36 && UUID(uuidString: text) != nil
    }

    /// Runs `body` in one transaction with a fresh index, then publishes `topic` at that index.
    func write<Result: Sendable>(
        _ topic: ChangeTopic,
        _ body: @escaping @Sendable (PostgresConnection, ModifyIndex) async throws -> Result
    ) async throws -> Result {
        try await self.feed.write([topic], body)
    }

    /// The current stable index (what reads report as `X-Consul-Index`).
    func stableIndex() async throws -> ModifyIndex {
        try await self.client.stableIndex(of: Self.schema, logger: self.logger)
    }

    /// `SELECT columns FROM table [WHERE condition] ORDER BY order`, keeping the condition's binds.
    /// Decodes a JSON column read as text.
    static func decodeJSON<Value: Decodable>(_ type: Value.Type, _ text: String) throws -> Value {
        try Self.decoder.decode(type, from: Data(text.utf8))
    }

    /// Encodes a value for a jsonb bind.
    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try Self.encoder.encode(value), as: UTF8.self)
    }
}
