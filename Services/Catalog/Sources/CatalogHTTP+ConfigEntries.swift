import Foundation
import Hummingbird
import Logging
import MeshCore
import MeshRPC
import MeshServer
import MeshStore

/// `/v1/config`: Consul's config entry API for `service-defaults`, `proxy-defaults` and `mesh`.
/// Writing a service's defaults needs `service:write` on it, the proxy defaults and the mesh
/// entry `mesh:write` (or `operator:write`); reading a service's defaults needs `service:read`,
/// lists are filtered; the proxy defaults and the mesh entry are readable by anyone (Consul).
extension CatalogHTTP {
    func addConfigRoutes(to v1: RouterGroup<BasicRequestContext>) {
        v1.put("config") { request, _ in
            try await self.configHandle {
                let (kind, name, body) = try ConfigEntryInput.parse(try await ConsulHTTP.jsonBody(of: request))
                let caller = try await self.gate.caller(of: request)
                try Self.demandWrite(kind, name, caller)
                let written = try await self.store.putConfigEntry(
                    kind: kind,
                    name: name,
                    body: body,
                    cas: try Self.number("cas", of: request)
                )
                if written {
                    self.logger.info(
                        "config entry written",
                        metadata: [
                            LogKey.kind: "\(kind.rawValue)", LogKey.name: "\(name)", LogKey.by: "\(caller.accessorID)",
                        ]
                    )
                }
                return try ConsulHTTP.json(written)
            }
        }
        v1.get("config/:kind") { request, context in
            try await self.configHandle {
                let kind = try ConfigEntryKind.parse(
                    try ConsulHTTP.pathParameter("kind", context, missing: "Missing config entry kind")
                )
                let caller = try await self.gate.caller(of: request)
                return try await self.blockingConfigRead(request) {
                    let entries = try await self.store.configEntries(kind: kind)
                    let visible = entries.filter { Self.mayRead($0.kind, $0.name, caller) }
                    return (.array(visible.map(\.json)), visible.count != entries.count)
                }
            }
        }
        v1.get("config/:kind/:name") { request, context in
            try await self.configHandle {
                let kind = try ConfigEntryKind.parse(
                    try ConsulHTTP.pathParameter("kind", context, missing: "Missing config entry kind")
                )
                let name = try ConsulHTTP.pathParameter("name", context, missing: "Missing config entry name")
                let caller = try await self.gate.caller(of: request)
                if kind == .serviceDefaults {
                    try caller.require(caller.authorizer.serviceRead(name), "service:read", on: name)
                }
                return try await self.blockingConfigRead(request) {
                    guard let entry = try await self.store.configEntries(kind: kind, name: name).first else {
                        throw ConsulHTTPError(
                            .notFound,
                            "Config entry not found for \"\(kind.rawValue)\" / \"\(name)\""
                        )
                    }
                    return (entry.json, false)
                }
            }
        }
        v1.delete("config/:kind/:name") { request, context in
            try await self.configHandle {
                let kind = try ConfigEntryKind.parse(
                    try ConsulHTTP.pathParameter("kind", context, missing: "Missing config entry kind")
                )
                let name = try ConsulHTTP.pathParameter("name", context, missing: "Missing config entry name")
                let caller = try await self.gate.caller(of: request)
                try Self.demandWrite(kind, name, caller)
                let cas = try Self.number("cas", of: request)
                let deleted = try await self.store.deleteConfigEntry(kind: kind, name: name, cas: cas)
                // Consul answers `{}` to a plain delete and a boolean to a check-and-set one.
                return cas == nil ? try ConsulHTTP.json(JSONValue.object([:])) : try ConsulHTTP.json(deleted)
            }
        }
    }

    /// A read that can block (`?index=&wait=`) until the config topic moves past the index.
    private func blockingConfigRead(
        _ request: Request,
        _ read: @Sendable () async throws -> (JSONValue, filtered: Bool)
    ) async throws -> Response {
        let blocking = try ConsulHTTP.blockingQuery(of: request)
        let result = try await self.store.feed.blockingRead([CatalogStore.configTopic], blocking) { _ in
            let index = try await self.store.client.stableIndex(of: CatalogStore.schema, logger: self.logger)
            return Indexed(try await read(), index: index)
        }
        var response = try ConsulHTTP.indexed(result.value.0, index: result.index)
        if result.value.filtered { response.headers[ConsulHTTP.filteredByACLsHeader] = "true" }
        return response
    }

    private static func demandWrite(_ kind: ConfigEntryKind, _ name: String, _ caller: ACLCaller) throws {
        switch kind {
        case .serviceDefaults: try caller.require(caller.authorizer.serviceWrite(name), "service:write", on: name)
        case .proxyDefaults, .mesh: try caller.require(caller.authorizer.meshWrite, "mesh:write")
        }
    }

    private static func mayRead(_ kind: ConfigEntryKind, _ name: String, _ caller: ACLCaller) -> Bool {
        switch kind {
        case .serviceDefaults: caller.authorizer.serviceRead(name)
        case .proxyDefaults, .mesh: true
        }
    }

    private func configHandle(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as ValidationError where error.field == "Kind" {
            // Consul's message for an unknown kind is the reason alone.
            throw ConsulHTTPError(.badRequest, error.reason)
        }
    }
}
