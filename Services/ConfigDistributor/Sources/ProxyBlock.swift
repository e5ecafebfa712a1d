import Foundation
import MeshCore

/// The parts of Consul's `Proxy` registration block (kind `connect-proxy`) the distributor uses:
/// `LocalServicePort` and `Upstreams[].DestinationName` / `LocalBindPort`. Unknown fields are
/// ignored; a malformed block reads as no upstreams (the catalog validated it at registration).
struct ProxyBlock: Decodable, Equatable {
    struct Upstream: Decodable, Equatable {
        var DestinationName: String
        var LocalBindPort: Int
        var DestinationType: String?
    }

    var DestinationServiceName: String?
    var LocalServicePort: Int?
    var Upstreams: [Upstream]?

    init(json: Data) {
        self = (try? JSONDecoder().decode(ProxyBlock.self, from: json)) ?? ProxyBlock()
    }

    private init() {}

    var localServicePort: Int { self.LocalServicePort ?? 0 }

    /// Service upstreams (prepared queries are not supported and are left out).
    var upstreams: [UpstreamRequest] {
        (self.Upstreams ?? []).filter { ["", "service"].contains($0.DestinationType ?? "") }
            .map { UpstreamRequest(service: $0.DestinationName, localPort: $0.LocalBindPort) }
    }
}
