import Foundation
import Hummingbird
import MeshClient
import MeshCore
import MeshRPC
import NIOHTTP1

/// Maintenance mode as Consul's agent has it: a critical check (`_service_maintenance:<id>` on
/// a local service, `_node_maintenance` on the node) takes the instance or the node out of
/// every healthy listing until it is disabled. The catalog's ACLs decide with the caller's
/// token (`service:write`, `node:write`).
extension LocalAgentAPI {
    func addMaintenanceRoutes(to agent: RouterGroup<BasicRequestContext>) {
        agent.put("service/maintenance/:id") { request, context in
            try await self.relaying {
                let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing service ID")
                let enable = try Self.enable(request)
                guard await self.localServices().contains(where: { $0.id == id }) else {
                    throw ConsulHTTPError(.notFound, "No service registered with ID \"\(id)\"")
                }
                let checkID = "_service_maintenance:\(id)"
                let check = JSONValue.object([
                    "CheckID": .string(checkID), "Name": .string("Service Maintenance Mode"),
                    "Notes": .string(Self.reason(request, default: Self.defaultServiceReason)),
                    "ServiceID": .string(id), "Status": .string("critical"),
                ])
                try await self.maintenance(enable, checkID: checkID, check: check, request)
                return ConsulHTTP.empty()
            }
        }
        agent.put("maintenance") { request, _ in
            try await self.relaying {
                let enable = try Self.enable(request)
                guard !self.node.skipNodeUpdate else {
                    throw ConsulHTTPError(
                        .badRequest,
                        "Node maintenance would apply to every task on the shared node (on ECS the node is the "
                            + "cluster): use /v1/agent/service/maintenance/:id"
                    )
                }
                let check = JSONValue.object([
                    "CheckID": .string("_node_maintenance"), "Name": .string("Node Maintenance Mode"),
                    "Notes": .string(Self.reason(request, default: Self.defaultNodeReason)),
                    "Status": .string("critical"),
                ])
                try await self.maintenance(enable, checkID: "_node_maintenance", check: check, request)
                return ConsulHTTP.empty()
            }
        }
    }

    static let defaultServiceReason =
        "Maintenance mode is enabled for this service, but no reason was provided. This is a default message."
    static let defaultNodeReason =
        "Maintenance mode is enabled for this node, but no reason was provided. This is a default message."

    /// Registers the maintenance check, or removes check `checkID`.
    private func maintenance(_ enable: Bool, checkID: String, check: JSONValue, _ request: Request) async throws {
        let catalog = self.catalog(request)
        if enable {
            let body = try self.catalogRegistration(service: nil, checks: [check])
            _ = try await catalog.call(.PUT, "/v1/catalog/register", json: body)
        } else {
            let body = try JSONEncoder().encode(
                JSONValue.object(["Node": .string(self.node.name), "CheckID": .string(checkID)])
            )
            _ = try await catalog.call(.PUT, "/v1/catalog/deregister", json: body)
        }
    }

    /// `?enable=`, required, a Go boolean (Consul's texts when it is missing or not one).
    static func enable(_ request: Request) throws -> Bool {
        guard let raw = request.uri.queryParameters.get("enable") else {
            throw ConsulHTTPError(.badRequest, "Missing value for enable")
        }
        switch raw {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: throw ConsulHTTPError(.badRequest, "Invalid value for enable: \"\(raw)\"")
        }
    }

    private static func reason(_ request: Request, default text: String) -> String {
        let given = request.uri.queryParameters.get("reason").map { String($0) } ?? ""
        return given.isEmpty ? text : given
    }
}
