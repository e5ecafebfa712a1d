public import MeshCore

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Static mode's bootstrap file: the whole config and the PKI as files, no control plane (as Envoy
/// runs from a static bootstrap). `mesh-agent init` writes the dynamic variant; this one is for
/// hosts without a control plane, tests and the benchmark pair.
///
/// ```json
/// { "snapshot": { "service": "web", "publicPort": 21000, "localAppPort": 8080, ... },
///   "certFile": "web.crt", "keyFile": "web.key", "rootsFile": "ca.crt" }
/// ```
/// Relative paths are read from the bootstrap file's folder. `rootsFile` may be left out when the
/// snapshot's `rootsPEM` carries the roots.
public struct StaticBootstrap: Sendable, Codable {
    public var snapshot: ProxySnapshot
    public var certFile: String
    public var keyFile: String
    public var rootsFile: String?

    public init(snapshot: ProxySnapshot, certFile: String, keyFile: String, rootsFile: String?) {
        self.snapshot = snapshot
        self.certFile = certFile
        self.keyFile = keyFile
        self.rootsFile = rootsFile
    }

    /// Reads and checks the file; errors name the file and what is wrong with it.
    public static func load(path: String) throws(ProxyError) -> (ProxySnapshot, ProxyTLS) {
        let url = URL(fileURLWithPath: path)
        let bootstrap: StaticBootstrap
        do {
            bootstrap = try JSONDecoder().decode(StaticBootstrap.self, from: Data(contentsOf: url))
        } catch {
            throw ProxyError(.invalidConfig, "bootstrap \(path): \(error)")
        }
        return try bootstrap.materialize(relativeTo: url.deletingLastPathComponent())
    }

    /// The snapshot and TLS material this bootstrap names.
    public func materialize(relativeTo folder: URL) throws(ProxyError) -> (ProxySnapshot, ProxyTLS) {
        func read(_ name: String) throws(ProxyError) -> String {
            let url = name.hasPrefix("/") ? URL(fileURLWithPath: name) : folder.appendingPathComponent(name)
            do {
                return try String(contentsOf: url, encoding: .utf8)
            } catch {
                throw ProxyError(.invalidTLS, "cannot read \(url.path): \(error)")
            }
        }
        var snapshot = self.snapshot
        if let rootsFile = self.rootsFile { snapshot.rootsPEM = [try read(rootsFile)] }
        let tls = try ProxyTLS(
            certificateChainPEM: try read(self.certFile),
            privateKeyPEM: try read(self.keyFile),
            rootsPEM: snapshot.rootsPEM
        )
        return (snapshot, tls)
    }
}
