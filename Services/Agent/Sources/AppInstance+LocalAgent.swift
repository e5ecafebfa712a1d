public import MeshAgentAPI
import MeshCore

extension AppInstance {
    /// What the local agent API stands for beside this instance: its node, and the instance
    /// and its sidecar as the agent's own services (with the liveness checks it keeps).
    public var localAgentNode: LocalAgentNode {
        let upstreams: [JSONValue] = self.upstreams.map {
            .object([
                "DestinationType": .string("service"), "DestinationName": .string($0.service),
                "LocalBindPort": .number(Double($0.port)),
            ])
        }
        let sidecar = ServiceDefinition(
            kind: "connect-proxy",
            id: self.sidecarID,
            name: self.sidecarService,
            tags: self.tags,
            port: self.proxyPort,
            proxy: .object([
                "DestinationServiceName": .string(self.service),
                "DestinationServiceID": .string(self.serviceID),
                "LocalServiceAddress": .string("127.0.0.1"), "LocalServicePort": .number(Double(self.port)),
                "Upstreams": .array(upstreams),
            ])
        )
        return LocalAgentNode(
            name: self.node,
            address: self.address,
            skipNodeUpdate: self.skipNodeUpdate,
            services: [
                ServiceDefinition(id: self.serviceID, name: self.service, tags: self.tags, port: self.port), sidecar,
            ],
            ownTTLChecks: Set(self.livenessCheckIDs)
        )
    }
}
