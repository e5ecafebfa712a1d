import AsyncHTTPClient
import Foundation
import MeshTesting
import NIOCore
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The walkthrough (`meshctl dev --demo`) exactly as the README shows it: real processes for
/// every app, agent and proxy, mTLS between the proxies, intentions from `meshctl intention`.
/// Each change is awaited with a generous deadline; the one-second targets are measured by
/// Benchmarks/, not asserted here.
@Suite("the walkthrough", .timeLimit(.minutes(6))) struct DevDemoTests {
    struct Instance {
        let name: String
        let appPort: Int
        let proxyPort: Int
        let pids: [pid_t]
        /// The public address (the namespace's when the demo runs servers in namespaces).
        let address: String
        /// The server's network namespace, or nil.
        let netns: String?
    }

    /// The demo's instances and the client's upstream port, from what `meshctl dev --demo` printed.
    static func parse(_ output: String) throws -> (upstream: Int, instances: [String: Instance]) {
        var upstream: Int?
        var instances: [String: Instance] = [:]
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ")
            if let index = words.firstIndex(of: "demo-upstream"), index + 1 < words.count {
                upstream = Int(words[index + 1])
            }
            if let index = words.firstIndex(of: "demo-instance"), index + 5 < words.count {
                func value(_ key: String) -> String {
                    words.first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) } ?? ""
                }
                let name = String(words[index + 1])
                instances[name] = Instance(
                    name: name,
                    appPort: Int(value("app")) ?? 0,
                    proxyPort: Int(value("proxy")) ?? 0,
                    pids: value("pids").split(separator: ",").compactMap { pid_t($0) },
                    address: value("address"),
                    netns: value("netns") == "-" ? nil : value("netns")
                )
            }
        }
        guard let upstream, instances.count == 4 else { throw TestFailure("no demo lines in: \(output)") }
        return (upstream, instances)
    }

    /// One call on a new connection to `port`: the instance that answered, or nil when the call
    /// failed (an empty reply, a reset).
    static func call(_ port: Int, host: String = "127.0.0.1") async -> String? {
        var request = HTTPClientRequest(url: "http://\(host):\(port)/")
        request.headers.add(name: "Connection", value: "close")
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 16)
            guard response.status == .ok, String(buffer: body) == "hello world\n" else { return nil }
            return response.headers.first(name: "X-Served-By")
        } catch {
            return nil
        }
    }

    /// POSTs to a server's app: from inside its namespace when it has one (the host cannot reach it).
    static func post(_ instance: Instance, _ path: String) async throws {
        let url = "http://127.0.0.1:\(instance.appPort)\(path)"
        if let netns = instance.netns {
            let ip = try #require(
                ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }
            )
            let child = try Spawned.launch(
                ip,
                ["netns", "exec", netns, builtExecutable("meshctl"), "demo", "post", url],
                outputPath: "/dev/null"
            )
            #expect(try await child.waitForExit() == 0, "POST \(url) in \(netns)")
            return
        }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        _ = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    }

    static func meshctl(_ arguments: [String], dev: RunningDev, token: String) async throws -> Int32 {
        try await RunningDev.run(
            "meshctl",
            arguments,
            environment: ["CONSUL_HTTP_ADDR": dev.address, "CONSUL_HTTP_TOKEN": token]
        ).status
    }

    @Test("hello world from every server in turn; deny, restore, a failed check and a killed server")
    func walkthrough() async throws {
        let token = UUID().uuidString.lowercased()
        let demoDirectory = try await RunningDev.with(token: token, arguments: ["--demo"]) { dev in
            let (upstream, instances) = try Self.parse(dev.output)
            let servers: Set = ["http-server-1", "http-server-2", "http-server-3"]

            // Round robin over the three servers, through both proxies and mTLS.
            var answered: [String] = []
            for _ in 0..<6 { answered.append(await Self.call(upstream) ?? "failed") }
            #expect(Set(answered) == servers, "\(answered)")

            // A server's public address is its proxy's mTLS listener: plain HTTP gets nothing.
            let server1 = try #require(instances["http-server-1"])
            #expect(await Self.call(server1.proxyPort, host: server1.address) == nil)
            if server1.netns != nil {
                // In its namespace (as root), the app's own port is out of the host's reach.
                #expect(await Self.call(server1.appPort) == nil)
                #expect(await Self.call(server1.appPort, host: server1.address) == nil)
            }

            // The exact deny beats the wildcard allow: an empty reply; deleting it restores service.
            #expect(
                try await Self.meshctl(
                    ["intention", "create", "-deny", "http-client", "http-server"],
                    dev: dev,
                    token: token
                ) == 0
            )
            try await eventually(within: .seconds(20), "the deny to apply") { await Self.call(upstream) == nil }
            #expect(
                try await Self.meshctl(["intention", "delete", "http-client", "http-server"], dev: dev, token: token)
                    == 0
            )
            try await eventually(within: .seconds(20), "service to return") { await Self.call(upstream) != nil }

            // A failing health check takes server 1 out of rotation, with no failed call.
            try await Self.post(server1, "/fail")
            try await eventually(within: .seconds(20), "server 1 to leave the rotation") {
                var recent: [String?] = []
                for _ in 0..<3 { recent.append(await Self.call(upstream)) }
                #expect(!recent.contains(nil), "a call failed while server 1's check was failing")
                return !recent.contains("http-server-1")
            }
            try await Self.post(server1, "/recover")
            try await eventually(within: .seconds(20), "server 1 to return") {
                await Self.call(upstream) == "http-server-1"
            }

            // Killing server 2's app, agent and proxy: every later call still succeeds elsewhere.
            let server2 = try #require(instances["http-server-2"])
            for pid in server2.pids { kill(pid, SIGKILL) }
            var afterKill: [String?] = []
            for _ in 0..<9 { afterKill.append(await Self.call(upstream)) }
            #expect(!afterKill.contains(nil), "\(afterKill)")
            #expect(!afterKill.contains("http-server-2"))
            // Its agent is gone too: once the liveness TTL lapses, the catalog shows it critical.
            let api = dev.api.with(token: token)
            try await eventually(within: .seconds(30), "server 2 to turn critical in the catalog") {
                let passing = try await api.get("/v1/health/service/http-server?passing").array
                let ids = passing.compactMap { ($0["Service"] as? [String: Any])?["ID"] as? String }
                return Set(ids) == ["http-server-1", "http-server-3"]
            }
            let line = try #require(dev.output.split(separator: "\n").first { $0.contains("demo: logs in ") })
            return try #require(line.split(separator: "demo: logs in ").last.map(String.init))
        }
        // Stopped: the demo's logs and its agents' token files went with it.
        #expect(!FileManager.default.fileExists(atPath: demoDirectory), "\(demoDirectory) is left behind")
    }
}
