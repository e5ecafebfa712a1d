import Logging
import MeshCore
import PostgresNIO

/// What a node holds now, as far as authorizing a write to it needs.
struct NodeOwnership: Sendable, Hashable {
    /// The node's stored entry.
    var node: CatalogNode
    /// The service name of each instance on the node, by instance ID.
    var services: [String: String]
    /// The service name of each check on the node by check ID ("" for a node check); only the
    /// checks that were asked for.
    var checks: [String: String]

    init(node: CatalogNode, services: [String: String] = [:], checks: [String: String] = [:]) {
        self.node = node
        self.services = services
        self.checks = checks
    }
}

/// Who owns what, for authorizing writes before they happen.
extension CatalogStore {
    /// The node's stored entry, its instances' names by ID and the owners of the checks named
    /// `checkIDs` (those that exist); nil when the node is unknown.
    func nodeOwnership(_ node: String, checkIDs: [String] = []) async throws -> NodeOwnership? {
        let read = try await self.read(.node(node))
        guard case .node(let found?) = read.value else { return nil }
        var ownership = NodeOwnership(
            node: found.node,
            services: Dictionary(found.services.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        )
        if !checkIDs.isEmpty {
            let rows = try await self.client.query(
                "SELECT check_id, service_name FROM catalog.checks WHERE node = \(node) AND check_id = ANY(\(checkIDs))",
                logger: self.logger
            )
            for try await (checkID, service) in rows.decode((String, String).self) {
                ownership.checks[checkID] = service
            }
        }
        return ownership
    }

    /// The service name of each check with this ID ("" for node checks), on `node` or on any node.
    func checkOwners(node: String, checkID: String) async throws -> [String] {
        let rows = try await self.client.query(
            """
            SELECT service_name FROM catalog.checks WHERE check_id = \(checkID) AND (\(node) = '' OR node = \(node))
            """,
            logger: self.logger
        )
        var owners: [String] = []
        for try await name in rows.decode(String.self) { owners.append(name) }
        return owners
    }
}
