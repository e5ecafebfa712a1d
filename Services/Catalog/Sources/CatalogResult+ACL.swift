import MeshCore

extension CatalogResult {
    /// What `authorizer` may read of this result, and whether anything was left out (Consul's
    /// `X-Consul-Results-Filtered-By-ACLs`). Services need `service:read`, nodes `node:read`;
    /// a check needs `node:read` on its node and, when it belongs to an instance, `service:read`
    /// on its service (Consul's `filterHealthChecks`).
    func filtered(by authorizer: ACLAuthorizer) -> (CatalogResult, filtered: Bool) {
        switch self {
        case .services(let services):
            let kept = services.filter { authorizer.serviceRead($0.key) }
            return (.services(kept), kept.count < services.count)
        case .nodes(let nodes):
            let kept = nodes.filter { authorizer.nodeRead($0.name) }
            return (.nodes(kept), kept.count < nodes.count)
        case .node(nil):
            return (self, false)
        case .node(var found?):
            guard authorizer.nodeRead(found.node.name) else { return (.node(nil), true) }
            let before = found.services.count
            found.services = found.services.filter { authorizer.serviceRead($0.name) }
            return (.node(found), found.services.count < before)
        case .serviceHealth(let entries):
            let kept = entries.filter { authorizer.serviceRead($0.service.name) && authorizer.nodeRead($0.node.name) }
            return (.serviceHealth(kept), kept.count < entries.count)
        case .checks(let checks):
            let kept = checks.filter { check in
                authorizer.nodeRead(check.node)
                    && (check.serviceName.isEmpty || authorizer.serviceRead(check.serviceName))
            }
            return (.checks(kept), kept.count < checks.count)
        }
    }
}

extension Registration {
    /// One right a write needs.
    struct Need: Hashable {
        enum Kind: Hashable {
            case nodeWrite
            case serviceWrite
        }
        var kind: Kind
        var resource: String

        var permission: String { self.kind == .nodeWrite ? "node:write" : "service:write" }

        func allowed(_ authorizer: ACLAuthorizer) -> Bool {
            switch self.kind {
            case .nodeWrite: authorizer.nodeWrite(self.resource)
            case .serviceWrite: authorizer.serviceWrite(self.resource)
            }
        }
    }

    /// The rights a registration needs against what the node holds now (`existing`, nil for a
    /// new node), as Consul's `vetRegisterWithACL`, in the order they are checked:
    ///
    /// - `node:write` on the node when it is new, or when the registration changes any of its
    ///   own fields (ID, address, datacenter, tagged addresses, meta: Consul's `ChangesNode`)
    ///   and does not set `SkipNodeUpdate`. An empty datacenter means `defaultDatacenter`.
    /// - `service:write` on the instance's service, **and** on the service that owns that
    ///   instance ID on the node now, so that no token can take over another service's instance.
    /// - For each check: `node:write` for a node check; `service:write` on the service the check
    ///   will belong to (an unknown instance ID needs `node:write`); and, stricter than Consul,
    ///   on whoever owns that check ID on the node now (`node:write` when it is a node check).
    func requiredPermissions(existing: NodeOwnership?, defaultDatacenter: String) -> [Need] {
        var needs: [Need] = []
        func need(_ kind: Need.Kind, _ resource: String) {
            let need = Need(kind: kind, resource: resource)
            if !needs.contains(need) { needs.append(need) }
        }
        let nodeName = self.node.name
        if let existing {
            if !self.skipNodeUpdate && self.changesNode(existing.node, defaultDatacenter: defaultDatacenter) {
                need(.nodeWrite, nodeName)
            }
        } else {
            need(.nodeWrite, nodeName)
        }
        if let service = self.service {
            need(.serviceWrite, service.name)
            if let owner = existing?.services[service.id] { need(.serviceWrite, owner) }
        }
        for check in self.checks {
            if check.serviceID.isEmpty {
                need(.nodeWrite, nodeName)
            } else if let service = self.service, service.id == check.serviceID {
                need(.serviceWrite, service.name)
            } else if let owner = existing?.services[check.serviceID] {
                need(.serviceWrite, owner)
            } else {
                need(.nodeWrite, nodeName)
            }
            switch existing?.checks[check.checkID] {
            case nil: break
            case ""?: need(.nodeWrite, nodeName)
            case let owner?: need(.serviceWrite, owner)
            }
        }
        return needs
    }

    /// Whether registering would change the node's own fields (Consul's `ChangesNode`).
    func changesNode(_ stored: CatalogNode, defaultDatacenter: String) -> Bool {
        let datacenter = self.node.datacenter.isEmpty ? defaultDatacenter : self.node.datacenter
        return stored.id != self.node.id || stored.address != self.node.address
            || stored.datacenter != datacenter || stored.taggedAddresses != self.node.taggedAddresses
            || stored.meta != self.node.meta
    }
}
