import MeshCore
import MeshRPC

/// Consul's `Connect.SidecarService` shorthand: registering a service with it registers its
/// sidecar proxy too, with Consul's defaults (agent/sidecar_service.go).
extension ServiceDefinition {
    /// The ports a sidecar without one is given, as Consul's `sidecar_min_port`..`max_port`.
    public static let sidecarPorts = 21000...21255

    /// The sidecar `Connect.SidecarService` asks for with `parent`, or nil when the body has
    /// none. `port` 0 means "allocate" (see `allocatingPort`).
    ///
    /// Defaults: ID `<parent ID>-sidecar-proxy`, name `<parent name>-sidecar-proxy`, kind
    /// `connect-proxy`, the parent's tags and metadata, `Proxy.DestinationServiceName`/`ID` the
    /// parent, `LocalServiceAddress` 127.0.0.1 and `LocalServicePort` the parent's port, and a
    /// TCP check on the proxy's port every 10 s ("Connect Sidecar Listening"). Consul's second
    /// default check, an alias of the parent's health, is not made (no alias checks here).
    static func sidecar(in value: JSONValue, parent: ServiceDefinition) throws(DefinitionError) -> ServiceDefinition? {
        guard case .object(let raw) = value,
            case .object(let connect)? = raw.first(where: { $0.key.lowercased() == "connect" })?.value,
            let requested = connect.first(where: { $0.key.lowercased() == "sidecarservice" })?.value,
            requested != .null
        else { return nil }
        guard case .object(var fields) = requested else {
            throw DefinitionError("Invalid SidecarService: expected an object")
        }
        let object: LenientObject
        do { object = try LenientObject(requested) } catch {
            throw DefinitionError("Request decode failed: \(error)")
        }
        if case .object(let nested)? = fields.first(where: { $0.key.lowercased() == "connect" })?.value,
            nested.keys.contains(where: { $0.lowercased() == "sidecarservice" })
        {
            throw DefinitionError("Invalid SidecarService: A SidecarService cannot have a nested SidecarService")
        }
        let kind = (try? object.string("Kind")) ?? nil
        guard kind == nil || kind == "" || kind == "connect-proxy" else {
            throw DefinitionError("Invalid SidecarService: SidecarService must have Kind empty or connect-proxy")
        }
        let id = "\(parent.id)-sidecar-proxy"
        let name = "\(parent.name)-sidecar-proxy"
        // What the sidecar gives wins; the rest is filled in from the parent.
        var proxy: [String: JSONValue] = [:]
        if case .object(let given)? = fields.first(where: { $0.key.lowercased() == "proxy" })?.value { proxy = given }
        func fill(_ key: String, _ value: JSONValue) {
            if !proxy.keys.contains(where: { $0.lowercased() == key.lowercased() }) { proxy[key] = value }
        }
        fill("DestinationServiceName", .string(parent.name))
        fill("DestinationServiceID", .string(parent.id))
        fill("LocalServiceAddress", .string("127.0.0.1"))
        fill("LocalServicePort", .number(Double(parent.port)))
        fields = fields.filter { !["proxy", "connect", "kind"].contains($0.key.lowercased()) }
        if !fields.keys.contains(where: { $0.lowercased() == "name" }) { fields["Name"] = .string(name) }
        if !fields.keys.contains(where: { $0.lowercased() == "id" }) { fields["ID"] = .string(id) }
        var sidecar = try ServiceDefinition.parse(.object(fields))
        sidecar.kind = "connect-proxy"
        sidecar.proxy = .object(proxy)
        sidecar.parentID = parent.id
        if fields.keys.first(where: { $0.lowercased() == "tags" }) == nil { sidecar.tags = parent.tags }
        if fields.keys.first(where: { $0.lowercased() == "meta" }) == nil { sidecar.meta = parent.meta }
        return sidecar
    }

    /// This sidecar with a port (when it has none, the lowest of `sidecarPorts` that no other
    /// sidecar of the agent uses) and, when it named no checks, Consul's TCP check on it.
    func allocatingPort(taken: Set<Int>) throws(DefinitionError) -> ServiceDefinition {
        var sidecar = self
        if sidecar.port == 0 {
            guard let free = Self.sidecarPorts.first(where: { !taken.contains($0) }) else {
                throw DefinitionError("No sidecar port is free in \(Self.sidecarPorts)")
            }
            sidecar.port = free
        }
        if sidecar.checks.isEmpty {
            let host = sidecar.address.isEmpty ? "127.0.0.1" : sidecar.address
            sidecar.checks = [
                AgentCheckDefinition(
                    id: "service:\(sidecar.id):1",
                    name: "Connect Sidecar Listening",
                    serviceID: sidecar.id,
                    probe: .tcp(address: "\(host):\(sidecar.port)", interval: .seconds(10)),
                    initialStatus: "critical",
                    deregisterCriticalServiceAfter: nil
                )
            ]
        }
        return sidecar
    }
}
