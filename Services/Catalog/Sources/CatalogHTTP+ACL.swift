import GRPCCore
import Hummingbird
import MeshCore
import MeshRPC
import MeshServer

/// The permission checks of catalog writes, shared by the REST and gRPC APIs. Each throws
/// `ACLDenial` when the caller lacks a right.
struct CatalogAccess: Sendable {
    let store: CatalogStore

    /// Refuses a registration the caller may not make (see `Registration.requiredPermissions`).
    ///
    /// The node is read just before the write, not in its transaction: a concurrent write in
    /// between can change who owns an ID (Consul vets before its Raft apply likewise).
    func authorize(_ registration: Registration, caller: ACLCaller) async throws {
        let existing = try await self.store.nodeOwnership(
            registration.node.name,
            checkIDs: registration.checks.map(\.checkID)
        )
        for need in registration.requiredPermissions(existing: existing, defaultDatacenter: self.store.datacenter) {
            try caller.require(need.allowed(caller.authorizer), need.permission, on: need.resource)
        }
    }

    /// Refuses a deregistration unless the caller may write the node, or the instance or check's service.
    func authorize(_ target: Deregistration, caller: ACLCaller) async throws {
        let node: String
        var service: String?
        switch target {
        case .node(let name):
            node = name
        case .service(let name, let serviceID):
            node = name
            service = try await self.store.nodeOwnership(name)?.services[serviceID]
        case .check(let name, let checkID):
            node = name
            service = try await self.store.checkOwners(node: name, checkID: checkID).first.flatMap {
                $0.isEmpty ? nil : $0
            }
        }
        if caller.authorizer.nodeWrite(node) { return }
        if let service {
            try caller.require(caller.authorizer.serviceWrite(service), "service:write", on: service)
        } else {
            try caller.require(false, "node:write", on: node)
        }
    }

    /// Refuses a TTL update unless the caller may write the check's service (or node, for a node check).
    ///
    /// An unknown check needs `node:write` on the named node (any node when none is named), so
    /// that a caller without rights cannot tell an unknown check ID (404) from a known one (403).
    func authorizeTTL(node: String, checkID: String, caller: ACLCaller) async throws {
        let owners = try await self.store.checkOwners(node: node, checkID: checkID)
        if owners.isEmpty {
            try caller.require(caller.authorizer.nodeWrite(node), "node:write", on: node)
        }
        for owner in owners {
            if owner.isEmpty {
                try caller.require(caller.authorizer.nodeWrite(node), "node:write", on: node)
            } else {
                try caller.require(caller.authorizer.serviceWrite(owner), "service:write", on: owner)
            }
        }
    }
}

extension CatalogHTTP {
    /// Runs an access check for a REST request when ACLs are on; a refusal is Consul's 403.
    func authorize(_ request: Request, _ check: (CatalogAccess, ACLCaller) async throws -> Void) async throws {
        guard self.gate.isEnabled else { return }
        try await check(CatalogAccess(store: self.store), try await self.gate.caller(of: request))
    }
}

extension CatalogRPC {
    /// Runs an access check for the current gRPC call when ACLs are on (an interceptor set the caller).
    func authorize(_ check: (CatalogAccess, ACLCaller) async throws -> Void) async throws {
        guard let caller = ACLCaller.current else { return }
        try await check(CatalogAccess(store: self.store), caller)
    }

    /// What the current caller may read of `result` (everything when ACLs are off).
    func visible(_ result: CatalogResult) -> CatalogResult {
        guard let caller = ACLCaller.current else { return result }
        return result.filtered(by: caller.authorizer).0
    }
}
