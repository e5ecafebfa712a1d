/// What a local agent API stands for: the catalog node it registers on, and the services it
/// owns before any is registered through it (mesh-agent: its app's instance and sidecar;
/// `meshctl dev`: none).
public struct LocalAgentNode: Sendable {
    /// The catalog node the agent's services are registered on.
    public var name: String
    /// The node's address, and the address of a service registered without one.
    public var address: String
    /// Register without touching the node (on ECS every task shares its cluster's node).
    public var skipNodeUpdate: Bool
    /// The agent's own services, listed with those registered through the API; they are not
    /// deregistered through it.
    public var services: [ServiceDefinition]
    /// TTL checks the agent keeps itself (its liveness): callers may update them.
    public var ownTTLChecks: Set<String>

    public init(
        name: String,
        address: String,
        skipNodeUpdate: Bool = false,
        services: [ServiceDefinition] = [],
        ownTTLChecks: Set<String> = []
    ) {
        self.name = name
        self.address = address
        self.skipNodeUpdate = skipNodeUpdate
        self.services = services
        self.ownTTLChecks = ownTTLChecks
    }
}
