import Crypto
import Foundation
import Logging
import MeshCore
import MeshStore
import MeshTLS
import NIOCore
import PostgresNIO
import X509

/// The ca schema's PostgreSQL access: the cluster's trust domain and settings, and its roots
/// with their sealed keys. Writes publish the `roots` topic after commit.
struct CAStore: Sendable {
    static let schema = CAMigrations.schema
    static let rootsTopic = ChangeTopic("roots")
    /// Serializes CA initialization and rotation across replicas (transaction-scoped).
    static let lockKey: Int64 = (0x6d67 << 48) | 1

    let client: PostgresClient
    let feed: ChangeFeed
    let kek: KeyEncryptionKey
    let logger: Logger

    /// The Consul name of every built-in root.
    static let rootName = "Consul CA Primary Cert"

    func stableIndex() async throws -> ModifyIndex {
        try await self.client.stableIndex(of: Self.schema, logger: self.logger)
    }

    /// Creates the trust domain and the first root unless they exist. Safe to run on every
    /// replica at once: the first to take the lock creates them, the others find them.
    func initialize(config: CAProviderConfig) async throws -> CACluster {
        if let existing = try await self.cluster() { return existing }
        let index = try await self.client.transaction(logger: self.logger) { connection -> ModifyIndex? in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: self.logger)
            let rows = try await connection.query("SELECT 1 FROM ca.cluster", logger: self.logger)
            for try await _ in rows.decode(Int32.self) { return nil }
            let index = try await connection.nextIndex(of: Self.schema, logger: self.logger)
            let clusterID = UUID().uuidString.lowercased()
            let trustDomain = "\(clusterID).consul"
            let config = try Self.json(config)
            try await connection.query(
                """
                INSERT INTO ca.cluster VALUES (1, \(clusterID), \(trustDomain), \(config)::jsonb, \
                \(Int64(index)), \(Int64(index)))
                """,
                logger: self.logger
            )
            let (root, key) = try CARoot.makeRoot(trustDomain: trustDomain, clusterID: clusterID)
            try await self.insertRoot(root, key: key, intermediates: [], index: index, on: connection)
            return index
        }
        if let index {
            self.feed.publish([Self.rootsTopic], index: index)
            self.logger.notice("CA initialized: new trust domain and root")
        }
        guard let cluster = try await self.cluster() else { throw CAStoreError.missingCluster }
        return cluster
    }

    func cluster() async throws -> CACluster? {
        let rows = try await self.client.query(
            "SELECT cluster_id, trust_domain, config::text, create_index, modify_index FROM ca.cluster",
            logger: self.logger
        )
        for try await (id, domain, config, created, modified) in rows.decode(
            (String, String, String, Int64, Int64).self
        ) {
            return CACluster(
                clusterID: id,
                trustDomain: domain,
                config: try JSONDecoder().decode(CAProviderConfig.self, from: Data(config.utf8)),
                createIndex: UInt64(created),
                modifyIndex: UInt64(modified)
            )
        }
        return nil
    }

    /// Every trusted root, the active one first.
    func roots() async throws -> [StoredRoot] {
        let rows = try await self.client.query(
            """
            SELECT id, name, serial_number, signing_key_id, not_before, not_after, root_pem, intermediate_pems, \
            active, rotated_out_at, create_index, modify_index FROM ca.roots ORDER BY active DESC, create_index DESC
            """,
            logger: self.logger
        )
        var result: [StoredRoot] = []
        for try await row in rows.decode(
            (String, String, Int64, String, Date, Date, String, [String], Bool, Date?, Int64, Int64).self
        ) {
            result.append(
                StoredRoot(
                    id: row.0,
                    name: row.1,
                    serialNumber: UInt64(bitPattern: row.2),
                    signingKeyID: row.3,
                    notBefore: row.4,
                    notAfter: row.5,
                    rootPEM: row.6,
                    intermediatePEMs: row.7,
                    active: row.8,
                    rotatedOutAt: row.9,
                    createIndex: UInt64(row.10),
                    modifyIndex: UInt64(row.11)
                )
            )
        }
        return result
    }

    /// The active root's certificate, its unsealed key and the certificates to send after leaves.
    func activeSigningMaterial() async throws -> (root: Certificate, key: P256.Signing.PrivateKey, chain: [Certificate])
    {
        let rows = try await self.client.query(
            "SELECT id, root_pem, intermediate_pems, sealed_key FROM ca.roots WHERE active",
            logger: self.logger
        )
        for try await (id, pem, intermediates, sealed) in rows.decode((String, String, [String], ByteBuffer).self) {
            let keyPEM = try self.kek.open(Array(buffer: sealed), associatedData: Array(id.utf8))
            return (
                try MeshPEM.certificate(fromPEM: pem),
                try MeshPEM.privateKey(fromPEM: String(decoding: keyPEM, as: UTF8.self)),
                try intermediates.map { pem throws in try MeshPEM.certificate(fromPEM: pem) }
            )
        }
        throw CAStoreError.noActiveRoot
    }

    /// Makes a new active root (with `key` when given), cross-signed by the current one so that
    /// peers trusting only the old root accept leaves of the new one. The old root stays trusted
    /// until `retainFor` (the longest leaf life) after now.
    func rotate(key: P256.Signing.PrivateKey?, crossSignValidity: Duration) async throws -> StoredRoot {
        guard let cluster = try await self.cluster() else { throw CAStoreError.missingCluster }
        let old = try await self.activeSigningMaterial()
        let (root, newKey) = try CARoot.makeRoot(
            trustDomain: cluster.trustDomain,
            clusterID: cluster.clusterID,
            validity: cluster.config.rootTTL,
            key: key
        )
        let cross = try CARoot.crossSign(root, by: old.root, oldKey: old.key, validity: crossSignValidity)
        let index = try await self.client.transaction(logger: self.logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: self.logger)
            let index = try await connection.nextIndex(of: Self.schema, logger: self.logger)
            try await connection.query(
                """
                UPDATE ca.roots SET active = false, rotated_out_at = now(), modify_index = \(Int64(index)) \
                WHERE active
                """,
                logger: self.logger
            )
            try await self.insertRoot(root, key: newKey, intermediates: [cross], index: index, on: connection)
            return index
        }
        self.feed.publish([Self.rootsTopic], index: index)
        guard let stored = try await self.roots().first(where: \.active) else { throw CAStoreError.noActiveRoot }
        self.logger.notice("CA root rotated", metadata: [LogKey.root: "\(stored.id)"])
        return stored
    }

    /// Stores new provider settings.
    func update(config: CAProviderConfig) async throws {
        let json = try Self.json(config)
        let logger = self.logger
        try await self.feed.write([Self.rootsTopic]) { connection, index in
            try await connection.query(
                "UPDATE ca.cluster SET config = \(json)::jsonb, modify_index = \(Int64(index))",
                logger: logger
            )
        }
    }

    /// Removes rotated-out roots whose last leaf has expired (`olderThan` after rotation). Leader only.
    func pruneRoots(olderThan retention: Duration, on session: PostgresConnection) async throws {
        let seconds = Double(retention.components.seconds)
        // The removal draws an index and raises the cluster row's to it, so the roots' index
        // moves and blocking queries and watches see the root go.
        let rows = try await session.query(
            """
            WITH gone AS (DELETE FROM ca.roots WHERE NOT active AND rotated_out_at < now() - make_interval(secs => \(seconds)) \
            RETURNING 1),
                 idx AS (SELECT ca.next_index() AS i WHERE EXISTS (SELECT 1 FROM gone)),
                 raised AS (UPDATE ca.cluster SET modify_index = (SELECT i FROM idx) WHERE EXISTS (SELECT 1 FROM idx) \
            RETURNING 1)
            SELECT (SELECT count(*) FROM gone), COALESCE((SELECT i FROM idx), 0), (SELECT count(*) FROM raised)
            """,
            logger: self.logger
        )
        for try await (count, index, _) in rows.decode((Int64, Int64, Int64).self) where count > 0 {
            self.feed.publish([Self.rootsTopic], index: UInt64(index))
            self.logger.info("expired CA roots removed", metadata: [LogKey.count: "\(count)"])
        }
    }

    private func insertRoot(
        _ root: Certificate,
        key: P256.Signing.PrivateKey,
        intermediates: [Certificate],
        index: ModifyIndex,
        on connection: PostgresConnection
    ) async throws {
        let fields = try CARootFields(certificate: root)
        let sealed = ByteBuffer(
            bytes: self.kek.seal(Array(MeshPEM.encode(key).utf8), associatedData: Array(fields.id.utf8))
        )
        let intermediatePEMs = intermediates.map { MeshPEM.encode($0) }
        try await connection.query(
            """
            INSERT INTO ca.roots VALUES (\(fields.id), \(Self.rootName), \(Int64(bitPattern: fields.serialNumber)), \
            \(fields.signingKeyID), \(fields.notBefore), \(fields.notAfter), \(MeshPEM.encode(root)), \
            \(intermediatePEMs), \(sealed), true, NULL, \(Int64(index)), \(Int64(index)))
            """,
            logger: self.logger
        )
    }

    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }
}

/// The CA's own state is missing or inconsistent (a bug or a hand-edited database).
enum CAStoreError: Error, CustomStringConvertible {
    case missingCluster
    case noActiveRoot

    var description: String {
        switch self {
        case .missingCluster: "the CA is not initialized"
        case .noActiveRoot: "the CA has no active root"
        }
    }
}
