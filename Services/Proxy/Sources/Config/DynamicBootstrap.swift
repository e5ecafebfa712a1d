#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The file `mesh-agent init` writes for its proxy in dynamic mode: where the distributor is and
/// who the proxy is. The token stays in its own file (0600), named here.
///
/// ```json
/// { "distributorAddr": "10.0.1.5:8503", "proxyID": "web-1-sidecar-proxy", "service": "web",
///   "tokenFile": "/consul/service-token", "datacenter": "dc1", "adminAddr": "127.0.0.1:19000" }
/// ```
public struct DynamicBootstrap: Sendable, Codable, Equatable {
    public var distributorAddr: String?
    public var distributorCAFile: String?
    public var proxyID: String?
    public var service: String?
    public var tokenFile: String?
    public var datacenter: String?
    public var adminAddr: String?

    public init(
        distributorAddr: String? = nil,
        distributorCAFile: String? = nil,
        proxyID: String? = nil,
        service: String? = nil,
        tokenFile: String? = nil,
        datacenter: String? = nil,
        adminAddr: String? = nil
    ) {
        self.distributorAddr = distributorAddr
        self.distributorCAFile = distributorCAFile
        self.proxyID = proxyID
        self.service = service
        self.tokenFile = tokenFile
        self.datacenter = datacenter
        self.adminAddr = adminAddr
    }

    public static func load(path: String) throws(ProxyError) -> DynamicBootstrap {
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            return try JSONDecoder().decode(DynamicBootstrap.self, from: data)
        } catch {
            throw ProxyError(.invalidConfig, "bootstrap \(path): \(error)")
        }
    }
}
