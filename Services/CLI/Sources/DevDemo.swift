import AsyncHTTPClient
import Foundation
import MeshRPC
import MeshTesting
import NIOCore
import NIOHTTP1

/// The walkthrough on this host (`meshctl dev --demo`): three `http-server` instances and one
/// `http-client`, each with its mesh-agent (registration, health check, shutdown order) and its
/// mesh-proxy (fed by the config-distributor), and the wildcard intention `* -> http-server`.
///
/// Every process is a real child, stopped by PID with the rest. The apps listen on loopback;
/// their proxies' public listeners, also on loopback, are what the catalog shows and what the
/// client's proxy dials over mTLS. (Without network namespaces the apps' own ports are reachable
/// on loopback too; on ECS each task's namespace hides them.)
struct DevDemo: Sendable {
    let children: ChildSet
    let gateway: HostPort
    let distributor: HostPort
    let caPath: String
    let token: String
    let directory: String

    struct Instance {
        let service: String
        let id: String
        let appPort: Int
        let proxyPort: Int
        let adminPort: Int
        let upstreams: [(String, Int)]
    }

    func start() async throws {
        try FileManager.default.createDirectory(
            atPath: self.directory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        try await self.allowWildcard()
        var servers: [Instance] = []
        for index in 1...3 {
            servers.append(
                Instance(
                    service: "http-server",
                    id: "http-server-\(index)",
                    appPort: try FreePort.pick(),
                    proxyPort: try FreePort.pick(),
                    adminPort: try FreePort.pick(),
                    upstreams: []
                )
            )
        }
        let upstreamPort = try FreePort.pick()
        let client = Instance(
            service: "http-client",
            id: "http-client-1",
            appPort: try FreePort.pick(),
            proxyPort: try FreePort.pick(),
            adminPort: try FreePort.pick(),
            upstreams: [("http-server", upstreamPort)]
        )
        for server in servers {
            try await self.run(
                server,
                app: ["demo", "http-server", "--listen", "127.0.0.1:\(server.appPort)", "--name", server.id]
            )
        }
        try await self.run(
            client,
            app: [
                "demo", "http-client", "--listen", "127.0.0.1:\(client.appPort)", "--upstream",
                "127.0.0.1:\(upstreamPort)",
            ]
        )
        Console.line("meshctl dev: demo: logs in \(self.directory)")
        Console.line("meshctl dev: demo: the client's upstream listener: curl http://127.0.0.1:\(upstreamPort)/")
        Console.line("meshctl dev: demo: the client app (calls it for you): curl http://127.0.0.1:\(client.appPort)/")
        Console.line("meshctl dev: demo-upstream \(upstreamPort)")
    }

    /// `* -> http-server` allow: the demo's traffic is allowed although ACLs default to deny.
    private func allowWildcard() async throws {
        var request = HTTPClientRequest(
            url: "http://\(self.gateway)/v1/connect/intentions/exact?source=*&destination=http-server"
        )
        request.method = .PUT
        request.headers.add(name: "X-Consul-Token", value: self.token)
        request.body = .bytes(ByteBuffer(string: #"{"Action": "allow", "Description": "meshctl dev --demo"}"#))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        guard response.status == .ok else {
            throw CLIError("demo: creating the intention * -> http-server failed: \(response.status)")
        }
        Console.line("meshctl dev: demo: intention * -> http-server (allow)")
    }

    /// The app, then `mesh-agent init` (to completion), `mesh-agent run` and `mesh-proxy run`;
    /// returns once the proxy is ready.
    private func run(_ instance: Instance, app: [String]) async throws {
        let meshctl = try Executables.sibling("meshctl")
        let agent = try Executables.sibling("mesh-agent")
        let proxy = try Executables.sibling("mesh-proxy")
        let log = "\(self.directory)/\(instance.id).log"
        let bootstrap = "\(self.directory)/\(instance.id).proxy.json"
        let appChild = try self.children.launchDemo("\(instance.id) app", meshctl, app, logPath: log)
        let common =
            [
                "--http-addr", self.gateway.description, "--service", instance.service, "--service-id", instance.id,
                "--port", "\(instance.appPort)", "--address", "127.0.0.1", "--node", "meshctl-dev",
                "--token-file", "\(self.directory)/\(instance.id).token", "--proxy-port", "\(instance.proxyPort)",
                "--proxy-bootstrap-file", bootstrap, "--distributor-addr", self.distributor.description,
                "--distributor-ca-file", self.caPath, "--proxy-admin-addr", "127.0.0.1:\(instance.adminPort)",
            ] + instance.upstreams.flatMap { ["--upstream", "\($0.0):\($0.1)"] }
        let initialize = try Spawned.launch(agent, ["init"] + common + ["--token", self.token], outputPath: log)
        guard try await initialize.waitForExit() == 0 else {
            throw CLIError("demo: mesh-agent init for \(instance.id) failed (see \(log))")
        }
        let agentChild = try self.children.launchDemo(
            "\(instance.id) agent",
            agent,
            ["run"] + common + [
                "--no-logout", "--http-check", "http://127.0.0.1:\(instance.appPort)/health", "--sync-interval",
                "1s", "--shutdown-timeout", "10s", "--api-addr", "127.0.0.1:0",
            ],
            logPath: log
        )
        let proxyChild = try self.children.launchDemo(
            "\(instance.id) proxy",
            proxy,
            [
                "run", "--bootstrap", bootstrap, "--public-bind", "127.0.0.1", "--drain-deadline", "10s",
                "--connect-timeout", "1s",
            ],
            logPath: log
        )
        try await HTTPProbe.waitUntilReady(
            HostPort(host: "127.0.0.1", port: instance.adminPort),
            name: "\(instance.id) proxy",
            child: proxyChild,
            timeout: .seconds(60)
        )
        Console.line(
            "meshctl dev: demo-instance \(instance.id) app=\(instance.appPort) proxy=\(instance.proxyPort) "
                + "admin=\(instance.adminPort) pids=\(appChild.pid),\(agentChild.pid),\(proxyChild.pid)"
        )
    }
}
