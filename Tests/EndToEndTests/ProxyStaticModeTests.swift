import Foundation
import MeshCore
import MeshTLS
import MeshTesting
import NIOCore
import NIOPosix
import Testing

/// `mesh-proxy static` as a process: two proxies from bootstrap files alone (snapshot,
/// certificate, key and roots as files; no control plane), a call through them, the container
/// health check (`mesh-proxy health`), and SIGTERM.
@Suite(.timeLimit(.minutes(3))) struct ProxyStaticModeTests {
    /// Writes `service`'s leaf and key under `folder` and its bootstrap around `snapshot`.
    static func bootstrap(
        _ snapshot: ProxySnapshot,
        authority: DevTLS.Authority,
        folder: String
    ) throws -> String {
        let id = SPIFFEID(
            trustDomain: "static.consul",
            namespace: "default",
            datacenter: "dc1",
            service: snapshot.service
        )
        let leaf = try DevTLS.issueServerCert(
            ca: authority.certificate,
            caKey: authority.privateKey,
            uri: id.uri
        )
        try leaf.certificatePEM.write(toFile: "\(folder)/\(snapshot.service).crt", atomically: true, encoding: .utf8)
        try leaf.privateKeyPEM.write(toFile: "\(folder)/\(snapshot.service).key", atomically: true, encoding: .utf8)
        let path = "\(folder)/\(snapshot.service).json"
        let file: [String: Any] = [
            "snapshot": try JSONSerialization.jsonObject(with: JSONEncoder().encode(snapshot)),
            "certFile": "\(snapshot.service).crt", "keyFile": "\(snapshot.service).key", "rootsFile": "ca.crt",
        ]
        try JSONSerialization.data(withJSONObject: file).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func health(_ adminPort: Int) async throws -> Int32 {
        try await RunningDev.run("mesh-proxy", ["health", "--admin-addr", "127.0.0.1:\(adminPort)"]).status
    }

    @Test func twoStaticProxiesCarryACallAndReportHealth() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let folder = NSTemporaryDirectory() + "static-proxies-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let authority = try DevTLS.makeCA(name: "Static Test CA")
        try authority.certificatePEM.write(toFile: "\(folder)/ca.crt", atomically: true, encoding: .utf8)
        let app = try await startApp(name: "api-1", group: group)
        defer { app.close(promise: nil) }

        let (apiPublic, apiAdmin, webAdmin, upstreamPort) = (
            try FreePort.pick(), try FreePort.pick(), try FreePort.pick(), try FreePort.pick()
        )
        let identity = { (service: String) in
            SPIFFEID(trustDomain: "static.consul", namespace: "default", datacenter: "dc1", service: service).uri
        }
        let api = ProxySnapshot(
            service: "api",
            publicPort: apiPublic,
            localAppPort: try #require(app.localAddress?.port),
            protocolName: "tcp",
            upstreams: [],
            intentions: [Intention(sourceName: "web", destinationName: "api", action: .allow)],
            defaultAllow: false,
            trustDomain: "static.consul",
            rootsPEM: []
        )
        let web = ProxySnapshot(
            service: "web",
            publicPort: 0,
            localAppPort: 1,
            protocolName: "tcp",
            upstreams: [
                ProxyUpstream(
                    service: "api",
                    localPort: upstreamPort,
                    protocolName: "tcp",
                    endpoints: [ProxyEndpoint(address: "127.0.0.1", port: apiPublic, node: "n", instanceID: "api-1")],
                    expectedIdentity: identity("api")
                )
            ],
            intentions: [],
            defaultAllow: false,
            trustDomain: "static.consul",
            rootsPEM: []
        )
        // Not running yet: the health check fails.
        #expect(try await Self.health(apiAdmin) != 0)
        let apiProxy = try Spawned.launch(
            builtExecutable("mesh-proxy"),
            [
                "static", "--bootstrap", try Self.bootstrap(api, authority: authority, folder: folder),
                "--public-bind", "127.0.0.1", "--admin-addr", "127.0.0.1:\(apiAdmin)", "--drain-deadline", "2s",
            ],
            outputPath: "\(folder)/api.log"
        )
        defer { apiProxy.stop() }
        let webProxy = try Spawned.launch(
            builtExecutable("mesh-proxy"),
            [
                "static", "--bootstrap", try Self.bootstrap(web, authority: authority, folder: folder),
                "--public-bind", "none", "--admin-addr", "127.0.0.1:\(webAdmin)", "--drain-deadline", "2s",
            ],
            outputPath: "\(folder)/web.log"
        )
        defer { webProxy.stop() }
        try await eventually(within: .seconds(30), "both proxies healthy") {
            let api = try await Self.health(apiAdmin)
            let web = try await Self.health(webAdmin)
            return api == 0 && web == 0
        }
        #expect(try await call(port: upstreamPort, group: group) == "api-1:ping\n")

        // SIGTERM: each drains and exits 0.
        kill(webProxy.pid, SIGTERM)
        kill(apiProxy.pid, SIGTERM)
        #expect(try await webProxy.waitForExit() == 0)
        #expect(try await apiProxy.waitForExit() == 0)
        #expect(try await Self.health(apiAdmin) != 0)
    }
}
