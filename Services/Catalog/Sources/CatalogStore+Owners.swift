import Logging
import MeshCore
import PostgresNIO

/// Who owns what, for authorizing writes before they happen.
extension CatalogStore {
    /// The node's stored entry and its instances' names by ID; nil when the node is unknown.
    func nodeOwnership(_ node: String) async throws -> (node: CatalogNode, services: [String: String])? {
        let read = try await self.read(.node(node))
        guard case .node(let found?) = read.value else { return nil }
        return (
            found.node, Dictionary(found.services.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        )
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
