import Foundation
import Logging
import MeshCore
import MeshStore
import PostgresNIO

/// What a read selects; each kind has its change-feed topic.
enum CatalogQuery: Sendable, Hashable {
    case services
    case nodes
    case node(String)
    case serviceHealth(String)
    case checksOfService(String)
    case checksOfNode(String)
    case checksInState(String)
    /// The instances that can take mesh traffic for a service: the sidecar proxies whose
    /// destination it is, and its own Connect-native instances (with their health).
    case connectHealth(String)
    /// Every instance with its checks (the web UI's services summary, `/v1/internal/ui/services`).
    case allServiceHealth

    /// The topics whose changes can change this query's result.
    var topics: [ChangeTopic] {
        switch self {
        case .services: [ChangeTopic("services")]
        case .nodes: [ChangeTopic("nodes")]
        case .node(let name), .checksOfNode(let name): [ChangeTopic("node:\(name)")]
        case .serviceHealth(let name), .checksOfService(let name): [ChangeTopic("svc:\(name)")]
        case .checksInState: [ChangeTopic("checks")]
        // A proxy names its destination in its body, not in a topic: any instance or check change.
        case .connectHealth, .allServiceHealth: [ChangeTopic("services"), ChangeTopic("checks")]
        }
    }
}

/// Result values of the catalog reads.
enum CatalogResult: Sendable {
    case services([String: [String]])
    case nodes([CatalogNode])
    case node(NodeServices?)
    case serviceHealth([ServiceHealth])
    case checks([HealthCheck])
}

extension CatalogStore {
    /// Runs one query from one snapshot. Its index is the highest modify index among the rows
    /// the result depends on (tombstones and floors included), capped at the stable index.
    func read(_ query: CatalogQuery) async throws -> Indexed<CatalogResult> {
        try await self.client.withSnapshot(of: Self.schema, logger: self.logger) { connection, stable in
            switch query {
            case .services:
                let (value, index) = try await self.services(on: connection)
                return Indexed(.services(value), resultIndex: index, stable: stable)
            case .nodes:
                let (value, index) = try await self.nodes(on: connection)
                return Indexed(.nodes(value), resultIndex: index, stable: stable)
            case .node(let name):
                let (value, index) = try await self.nodeServices(name, on: connection)
                return Indexed(.node(value), resultIndex: index, stable: stable)
            case .serviceHealth(let name):
                let (value, index) = try await self.serviceHealth(name, on: connection)
                return Indexed(.serviceHealth(value), resultIndex: index, stable: stable)
            case .checksOfService(let name):
                let (value, index) = try await self.checks(.service(name), on: connection)
                return Indexed(.checks(value), resultIndex: index, stable: stable)
            case .checksOfNode(let name):
                let (value, index) = try await self.checks(.node(name), on: connection)
                return Indexed(.checks(value), resultIndex: index, stable: stable)
            case .checksInState(let state):
                let (value, index) = try await self.checks(.state(state), on: connection)
                return Indexed(.checks(value), resultIndex: index, stable: stable)
            case .connectHealth(let name):
                let (value, index) = try await self.connectHealth(name, on: connection)
                return Indexed(.serviceHealth(value), resultIndex: index, stable: stable)
            case .allServiceHealth:
                let (value, index) = try await self.allServiceHealth(on: connection)
                return Indexed(.serviceHealth(value), resultIndex: index, stable: stable)
            }
        }
    }

    private func services(on connection: PostgresConnection) async throws -> ([String: [String]], ModifyIndex) {
        var services: [String: [String]] = [:]
        let rows = try await connection.query(
            "SELECT name, body->>'tags' FROM catalog.services",
            logger: self.logger
        )
        for try await (name, tagsJSON) in rows.decode((String, String?).self) {
            let tags = try tagsJSON.map { try Self.decoder.decode([String].self, from: Data($0.utf8)) } ?? []
            var existing = services[name] ?? []
            for tag in tags where !existing.contains(tag) { existing.append(tag) }
            services[name] = existing
        }
        let index = try await self.maxIndex(
            """
            SELECT GREATEST((SELECT max(modify_index) FROM catalog.services),
                            (SELECT max(modify_index) FROM catalog.tombstones),
                            (SELECT modify_index FROM catalog.index_floors WHERE topic = 'catalog'))
            """,
            on: connection
        )
        return (services, index)
    }

    private func nodes(on connection: PostgresConnection) async throws -> ([CatalogNode], ModifyIndex) {
        let rows = try await connection.query(
            """
            SELECT name, node_id, address, datacenter, tagged_addresses::text, meta::text, create_index, modify_index
              FROM catalog.nodes ORDER BY name
            """,
            logger: self.logger
        )
        var nodes: [CatalogNode] = []
        for try await row in rows.decode((String, String, String, String, String, String, Int64, Int64).self) {
            nodes.append(try Self.node(row))
        }
        let index = try await self.maxIndex(
            """
            SELECT GREATEST((SELECT max(modify_index) FROM catalog.nodes),
                            (SELECT max(modify_index) FROM catalog.tombstones WHERE kind = 'node'),
                            (SELECT modify_index FROM catalog.index_floors WHERE topic = 'catalog'))
            """,
            on: connection
        )
        return (nodes, index)
    }

    func nodeServices(
        _ name: String,
        on connection: PostgresConnection
    ) async throws -> (
        NodeServices?, ModifyIndex
    ) {
        let nodeRows = try await connection.query(
            """
            SELECT name, node_id, address, datacenter, tagged_addresses::text, meta::text, create_index, modify_index
              FROM catalog.nodes WHERE name = \(name)
            """,
            logger: self.logger
        )
        var node: CatalogNode?
        for try await row in nodeRows.decode((String, String, String, String, String, String, Int64, Int64).self) {
            node = try Self.node(row)
        }
        var services: [ServiceInstance] = []
        let serviceRows = try await connection.query(
            """
            SELECT body::text, create_index, modify_index FROM catalog.services
             WHERE node = \(name) ORDER BY service_id
            """,
            logger: self.logger
        )
        for try await row in serviceRows.decode((String, Int64, Int64).self) {
            services.append(try Self.service(row))
        }
        var index = try await self.maxIndex(Self.deletionsIndex(ofNode: name), on: connection)
        index = max(index, node?.modifyIndex ?? 0, services.map(\.modifyIndex).max() ?? 0)
        return (node.map { NodeServices(node: $0, services: services) }, index)
    }

    /// The Connect-capable instances of `name`: proxies (kind `connect-proxy`) whose
    /// `DestinationServiceName` is `name`, and instances of `name` with `Connect.Native`.
    private func connectHealth(
        _ name: String,
        on connection: PostgresConnection
    ) async throws -> (
        [ServiceHealth], ModifyIndex
    ) {
        let (candidates, index) = try await self.serviceHealth(
            "s.name = \(name) OR s.body->>'kind' = 'connect-proxy'",
            checksOf: [],
            on: connection
        )
        func field(_ value: JSONValue?, _ key: String) -> JSONValue? {
            guard case .object(let fields)? = value else { return nil }
            return fields.first { $0.key.lowercased() == key.lowercased() }?.value
        }
        let selected = candidates.filter { entry in
            if entry.service.kind == "connect-proxy" {
                return field(entry.service.proxy, "DestinationServiceName") == .string(name)
            }
            return entry.service.name == name && field(entry.service.connect, "Native") == .bool(true)
        }
        var result: [ServiceHealth] = []
        var highest = index
        for serviceName in Set(selected.map(\.service.name)).sorted() {
            let (entries, entriesIndex) = try await self.serviceHealth(serviceName, on: connection)
            let ids = Set(selected.filter { $0.service.name == serviceName }.map { "\($0.node.name)/\($0.service.id)" })
            result += entries.filter { ids.contains("\($0.node.name)/\($0.service.id)") }
            highest = max(highest, entriesIndex)
        }
        return (result, highest)
    }

    /// Every instance with its own checks and its node's, from two queries.
    private func allServiceHealth(on connection: PostgresConnection) async throws -> ([ServiceHealth], ModifyIndex) {
        var (entries, index) = try await self.serviceHealth("TRUE", checksOf: [], on: connection)
        let (checks, checksIndex) = try await self.checks(.state("any"), on: connection)
        Self.attach(checks, to: &entries)
        return (entries, max(index, checksIndex))
    }

    /// Gives each instance its checks among `checks`: its own and its node's.
    private static func attach(_ checks: [HealthCheck], to entries: inout [ServiceHealth]) {
        var byNode: [String: [HealthCheck]] = [:]
        for check in checks { byNode[check.node, default: []].append(check) }
        for position in entries.indices {
            let entry = entries[position]
            entries[position].checks = (byNode[entry.node.name] ?? []).filter {
                $0.serviceID.isEmpty || $0.serviceID == entry.service.id
            }
        }
    }

    private func serviceHealth(
        _ name: String,
        on connection: PostgresConnection
    ) async throws -> (
        [ServiceHealth], ModifyIndex
    ) {
        try await self.serviceHealth("s.name = \(name)", checksOf: [name], on: connection)
    }

    /// The instances `condition` selects, each with its node, and the checks of `checksOf`'s
    /// services (their own and their nodes').
    private func serviceHealth(
        _ condition: PostgresQuery,
        checksOf names: [String],
        on connection: PostgresConnection
    ) async throws -> (
        [ServiceHealth], ModifyIndex
    ) {
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT s.body::text, s.create_index, s.modify_index,
                           n.name, n.node_id, n.address, n.datacenter, n.tagged_addresses::text, n.meta::text,
                           n.create_index, n.modify_index
                      FROM catalog.services s JOIN catalog.nodes n ON n.name = s.node
                     WHERE \(condition.sql)
                     ORDER BY s.node, s.service_id
                    """,
                binds: condition.binds
            ),
            logger: self.logger
        )
        var entries: [ServiceHealth] = []
        var index: ModifyIndex = 0
        for try await row in rows.decode(
            (String, Int64, Int64, String, String, String, String, String, String, Int64, Int64).self
        ) {
            let service = try Self.service((row.0, row.1, row.2))
            let node = try Self.node((row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10))
            index = max(index, service.modifyIndex, node.modifyIndex)
            entries.append(ServiceHealth(node: node, service: service, checks: []))
        }
        var checks: [HealthCheck] = []
        for name in names {
            let (found, checksIndex) = try await self.checks(.serviceHealth(name), on: connection)
            index = max(index, checksIndex)
            checks += found
        }
        Self.attach(checks, to: &entries)
        return (entries, index)
    }

    /// Which checks a checks read selects.
    enum CheckSelector {
        case service(String)
        case node(String)
        case state(String)
        /// A service's own checks and the node checks of the nodes it runs on.
        case serviceHealth(String)
    }

    func checks(
        _ selector: CheckSelector,
        on connection: PostgresConnection
    ) async throws -> (
        [HealthCheck], ModifyIndex
    ) {
        let columns = "c.body::text, c.status, c.output, c.create_index, c.modify_index"
        let rows: PostgresRowSequence
        let indexQuery: PostgresQuery
        switch selector {
        case .service(let name):
            rows = try await connection.query(
                """
                SELECT \(unescaped: columns) FROM catalog.checks c
                 WHERE c.service_name = \(name) ORDER BY c.node, c.check_id
                """,
                logger: self.logger
            )
            indexQuery = Self.deletionsIndex(ofService: name)
        case .serviceHealth(let name):
            rows = try await connection.query(
                """
                SELECT \(unescaped: columns) FROM catalog.checks c
                 WHERE c.service_name = \(name)
                    OR (c.service_id = '' AND c.node IN (SELECT s.node FROM catalog.services s WHERE s.name = \(name)))
                 ORDER BY c.node, c.check_id
                """,
                logger: self.logger
            )
            indexQuery = Self.deletionsIndex(ofService: name)
        case .node(let name):
            rows = try await connection.query(
                """
                SELECT \(unescaped: columns) FROM catalog.checks c
                 WHERE c.node = \(name) ORDER BY c.node, c.check_id
                """,
                logger: self.logger
            )
            indexQuery = Self.deletionsIndex(ofNode: name)
        case .state(let state):
            rows = try await connection.query(
                """
                SELECT \(unescaped: columns) FROM catalog.checks c
                 WHERE \(state) = 'any' OR c.status = \(state) ORDER BY c.node, c.check_id
                """,
                logger: self.logger
            )
            indexQuery = """
                SELECT GREATEST((SELECT max(modify_index) FROM catalog.checks),
                                (SELECT max(modify_index) FROM catalog.tombstones),
                                (SELECT modify_index FROM catalog.index_floors WHERE topic = 'catalog'))
                """
        }
        var checks: [HealthCheck] = []
        var index: ModifyIndex = 0
        for try await (body, status, output, createIndex, modifyIndex) in rows.decode(
            (String, String, String, Int64, Int64).self
        ) {
            var check = try Self.decoder.decode(HealthCheck.self, from: Data(body.utf8))
            check.status = CheckStatus(rawValue: status) ?? .critical
            check.output = output
            check.createIndex = UInt64(createIndex)
            check.modifyIndex = UInt64(modifyIndex)
            index = max(index, check.modifyIndex)
            checks.append(check)
        }
        index = max(index, try await self.maxIndex(indexQuery, on: connection))
        return (checks, index)
    }

    /// The highest index of deletions under a service: its tombstones, or the floor GC left.
    private static func deletionsIndex(ofService name: String) -> PostgresQuery {
        """
        SELECT GREATEST((SELECT max(modify_index) FROM catalog.tombstones WHERE service_name = \(name)),
                        (SELECT modify_index FROM catalog.index_floors WHERE topic = \("svc:" + name)))
        """
    }

    /// The highest index of deletions on a node: its tombstones, or the floor GC left.
    private static func deletionsIndex(ofNode name: String) -> PostgresQuery {
        """
        SELECT GREATEST((SELECT max(modify_index) FROM catalog.tombstones WHERE node = \(name)),
                        (SELECT modify_index FROM catalog.index_floors WHERE topic = \("node:" + name)))
        """
    }

    private func maxIndex(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> ModifyIndex {
        let rows = try await connection.query(query, logger: self.logger)
        for try await value in rows.decode(Int64?.self) { return UInt64(max(value ?? 0, 0)) }
        return 0
    }

    static func node(_ row: (String, String, String, String, String, String, Int64, Int64)) throws -> CatalogNode {
        CatalogNode(
            name: row.0,
            id: row.1,
            address: row.2,
            datacenter: row.3,
            taggedAddresses: try Self.decoder.decode([String: String].self, from: Data(row.4.utf8)),
            meta: try Self.decoder.decode([String: String].self, from: Data(row.5.utf8)),
            createIndex: UInt64(row.6),
            modifyIndex: UInt64(row.7)
        )
    }

    static func service(_ row: (String, Int64, Int64)) throws -> ServiceInstance {
        var service = try Self.decoder.decode(ServiceInstance.self, from: Data(row.0.utf8))
        service.createIndex = UInt64(row.1)
        service.modifyIndex = UInt64(row.2)
        return service
    }
}
