import MeshCore

extension CatalogResult {
    /// What `authorizer` may read of this result, and whether anything was left out (Consul's
    /// `X-Consul-Results-Filtered-By-ACLs`). Services need `service:read`, nodes `node:read`;
    /// a check needs read on its service, or on its node when it is a node check.
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
                check.serviceName.isEmpty ? authorizer.nodeRead(check.node) : authorizer.serviceRead(check.serviceName)
            }
            return (.checks(kept), kept.count < checks.count)
        }
    }
}

extension Registration {
    /// The permissions a registration needs, as Consul's `vetRegisterWithACL`: `service:write` on
    /// the instance's service, and `node:write` on the node unless the node entry is left as it is
    /// (`SkipNodeUpdate`, or `nodeUnchanged`). Node checks need `node:write`; a check on an
    /// instance needs `service:write` on that instance's service (`serviceOfCheck`).
    func requiredPermissions(
        nodeUnchanged: Bool,
        serviceOfCheck: (HealthCheck) -> String?
    ) -> [(permission: String, resource: String, allowed: (ACLAuthorizer) -> Bool)] {
        var needs: [(String, String, (ACLAuthorizer) -> Bool)] = []
        let nodeName = self.node.name
        if !self.skipNodeUpdate && !nodeUnchanged {
            needs.append(("node:write", nodeName, { $0.nodeWrite(nodeName) }))
        }
        if let service = self.service {
            let name = service.name
            needs.append(("service:write", name, { $0.serviceWrite(name) }))
        }
        for check in self.checks {
            if check.serviceID.isEmpty {
                needs.append(("node:write", nodeName, { $0.nodeWrite(nodeName) }))
            } else if let name = serviceOfCheck(check) {
                needs.append(("service:write", name, { $0.serviceWrite(name) }))
            } else {
                needs.append(("node:write", nodeName, { $0.nodeWrite(nodeName) }))
            }
        }
        return needs
    }
}
