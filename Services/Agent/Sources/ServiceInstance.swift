import Foundation

/// The instance the agent registers for its application: Consul's catalog registration body.
public struct ServiceInstance: Sendable, Equatable {
    public var node: String
    public var address: String
    public var service: String
    public var serviceID: String
    public var port: Int
    public var tags: [String]

    public init(
        node: String,
        address: String,
        service: String,
        serviceID: String? = nil,
        port: Int,
        tags: [String] = []
    ) {
        self.node = node
        self.address = address
        self.service = service
        self.serviceID = serviceID ?? service
        self.port = port
        self.tags = tags
    }

    /// `PUT /v1/catalog/register`: the node as it is (no node:write needed when it exists
    /// with this address) and the service.
    var registration: Data {
        let body: [String: Any] = [
            "Node": self.node, "Address": self.address,
            "Service": [
                "ID": self.serviceID, "Service": self.service, "Port": self.port, "Address": self.address,
                "Tags": self.tags,
            ] as [String: Any],
        ]
        return (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
    }

    /// `PUT /v1/catalog/deregister` of the service only (the node belongs to others too).
    var deregistration: Data {
        (try? JSONSerialization.data(withJSONObject: ["Node": self.node, "ServiceID": self.serviceID])) ?? Data()
    }
}
