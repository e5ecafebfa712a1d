import AsyncHTTPClient
import Foundation
import MeshLocal
import MeshRPC
import NIOCore
import NIOHTTP1

/// The walkthrough on this host (`meshctl dev --demo`): three `http-server` instances and one
/// `http-client`, each with its mesh-agent (registration, health check, shutdown order) and its
/// mesh-proxy (fed by the config-distributor), and the wildcard intention `* -> http-server`.
///
/// Every process is a real child, stopped by PID with the rest. As root (with `ip`), each server
/// runs in its own network namespace with its agent and proxy, as in an ECS task: its app listens
/// on the namespace's loopback, unreachable from the host, and its proxy's public listener on the
/// namespace's address is what the catalog shows and what the client's proxy dials over mTLS.
/// Otherwise everything listens on the host's loopback, where the apps' own ports are reachable
/// too (the README says so).
struct DevDemo: Sendable {
    let children: ChildSet
    let gateway: HostPort
    /// The distributor's replicas.
    let distributor: ServiceAddress
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
        let isolated = DemoNamespace.available
        Console.line(
            isolated
                ? "meshctl dev: demo: each server in its own network namespace (root)"
                : "meshctl dev: demo: servers on the host's loopback (network namespaces need root)"
        )
        for (index, server) in servers.enumerated() {
            try await self.run(
                server,
                app: ["demo", "http-server", "--listen", "127.0.0.1:\(server.appPort)", "--name", server.id],
                namespace: isolated ? try await self.namespace(index + 1) : nil
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

    /// Namespace `index`, with forwarders on its host address to the gateway and the distributor;
    /// all undone when the demo stops.
    private func namespace(_ index: Int) async throws -> DemoNamespace {
        let namespace = DemoNamespace(index: index)
        namespace.delete()  // a leftover of a killed run with the same PID
        try namespace.create()
        self.children.onDemoStop { namespace.delete() }
        for target in [self.gateway] + self.distributor.replicas {
            let forwarder = try await LoopbackForwarder.start(
                listen: HostPort(host: namespace.hostAddress, port: target.port),
                target: target
            )
            self.children.onDemoStop { forwarder.close(promise: nil) }
        }
        return namespace
    }

    /// The app, then `mesh-agent init` (to completion), `mesh-agent run` and `mesh-proxy run`
    /// (inside `namespace` when given); returns once the proxy is ready.
    private func run(_ instance: Instance, app: [String], namespace: DemoNamespace? = nil) async throws {
        let meshctl = try Executables.sibling("meshctl")
        let agent = try Executables.sibling("mesh-agent")
        let proxy = try Executables.sibling("mesh-proxy")
        let log = "\(self.directory)/\(instance.id).log"
        let bootstrap = "\(self.directory)/\(instance.id).proxy.json"
        func inside(_ executable: String, _ arguments: [String]) -> (String, [String]) {
            namespace?.command(executable, arguments) ?? (executable, arguments)
        }
        let address = namespace?.address ?? "127.0.0.1"
        let controlHost = namespace?.hostAddress ?? "127.0.0.1"
        let distributors = self.distributor.replicas.map { "\(controlHost):\($0.port)" }.joined(separator: ",")
        let (appExecutable, appArguments) = inside(meshctl, app)
        let appChild = try self.children.launchDemo("\(instance.id) app", appExecutable, appArguments, logPath: log)
        let common =
            [
                "--http-addr", "\(controlHost):\(self.gateway.port)", "--service", instance.service,
                "--service-id", instance.id, "--port", "\(instance.appPort)", "--address", address,
                "--node", "meshctl-dev", "--token-file", "\(self.directory)/\(instance.id).token",
                "--proxy-port", "\(instance.proxyPort)", "--proxy-bootstrap-file", bootstrap,
                "--distributor-addr", distributors, "--distributor-ca-file", self.caPath,
                "--proxy-admin-addr", "\(address):\(instance.adminPort)",
            ] + instance.upstreams.flatMap { ["--upstream", "\($0.0):\($0.1)"] }
        let (initExecutable, initArguments) = inside(agent, ["init"] + common + ["--token", self.token])
        let initialize = try Spawned.launch(initExecutable, initArguments, outputPath: log)
        guard try await initialize.waitForExit() == 0 else {
            throw CLIError("demo: mesh-agent init for \(instance.id) failed (see \(log))")
        }
        let (agentExecutable, agentArguments) = inside(
            agent,
            ["run"] + common + [
                "--no-logout", "--http-check", "http://127.0.0.1:\(instance.appPort)/health", "--sync-interval",
                "1s", "--shutdown-timeout", "10s", "--api-addr", "127.0.0.1:0",
            ]
        )
        let agentChild = try self.children.launchDemo(
            "\(instance.id) agent",
            agentExecutable,
            agentArguments,
            logPath: log
        )
        let (proxyExecutable, proxyArguments) = inside(
            proxy,
            [
                "run", "--bootstrap", bootstrap, "--public-bind", address, "--drain-deadline", "10s",
                "--connect-timeout", "1s",
            ]
        )
        let proxyChild = try self.children.launchDemo(
            "\(instance.id) proxy",
            proxyExecutable,
            proxyArguments,
            logPath: log
        )
        try await HTTPProbe.waitUntilReady(
            HostPort(host: address, port: instance.adminPort),
            name: "\(instance.id) proxy",
            child: proxyChild,
            timeout: .seconds(60)
        )
        Console.line(
            "meshctl dev: demo-instance \(instance.id) app=\(instance.appPort) proxy=\(instance.proxyPort) "
                + "admin=\(instance.adminPort) pids=\(appChild.pid),\(agentChild.pid),\(proxyChild.pid) "
                + "address=\(address) netns=\(namespace?.name ?? "-")"
        )
    }
}
