public import MeshCore

/// The documents Consul's agent endpoints answer, in one shape for every server of them (the
/// local agent API beside an app or in `meshctl dev`, catalog-svc on the control plane's address).
public enum ConsulAgentJSON {
    /// Consul's `agent.Member`: a server (`role` consul, with its `build`) or a client node.
    public static func member(
        name: String,
        address: String,
        port: Int,
        server: Bool,
        datacenter: String
    ) -> JSONValue {
        var tags: [String: JSONValue] = ["role": .string(server ? "consul" : "node"), "dc": .string(datacenter)]
        if server { tags["build"] = .string(ConsulHTTP.consulVersion) }
        return .object([
            "Name": .string(name), "Addr": .string(address), "Port": .number(Double(port)),
            "Tags": .object(tags), "Status": .number(1),
        ])
    }

    /// `GET /v1/agent/self`: every top-level value an object or null (the Go client decodes it
    /// as a map of maps); `extra` adds top-level objects (the local agent's `DebugConfig`).
    public static func agentSelf(
        datacenter: String,
        nodeName: String,
        server: Bool,
        member: JSONValue,
        extra: [String: JSONValue] = [:]
    ) -> JSONValue {
        var document: [String: JSONValue] = [
            "Config": .object([
                "Datacenter": .string(datacenter), "PrimaryDatacenter": .string(datacenter),
                "NodeName": .string(nodeName), "NodeID": .string(""), "Revision": .string("mesh"),
                "Server": .bool(server), "Version": .string(ConsulHTTP.consulVersion), "BuildDate": .string(""),
            ]),
            "Member": member,
            "Coord": .null, "Meta": .object([:]), "Stats": .object([:]),
        ]
        document.merge(extra) { _, new in new }
        return .object(document)
    }
}
