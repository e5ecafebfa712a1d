public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1

/// A `moto_server` (PyPI `moto`, a local AWS emulator) on a free 127.0.0.1 port, for tests of the
/// mesh's AWS calls; stopped by PID. Never the real AWS.
public final class MotoServer: Sendable {
    /// Whether `moto_server` is on `PATH` (tests that need it are skipped otherwise).
    public static var isInstalled: Bool { Spawned.which("moto_server") != nil }

    let process: Spawned
    public let port: Int
    public let logPath: String

    /// Its address, for clients' `endpoint`.
    public var endpoint: URL { URL(string: "http://127.0.0.1:\(self.port)/")! }

    private init(process: Spawned, port: Int, logPath: String) {
        self.process = process
        self.port = port
        self.logPath = logPath
    }

    /// Starts one and waits until it answers.
    public static func start(httpClient: HTTPClient) async throws -> MotoServer {
        guard let executable = Spawned.which("moto_server") else {
            throw SpawnError(command: "moto_server", reason: "not installed (pip install 'moto[server]')")
        }
        let port = try FreePort.pick()
        let logPath = NSTemporaryDirectory() + "moto-\(port)-\(UInt32.random(in: 0...UInt32.max)).log"
        let process = try Spawned.launch(executable, ["-H", "127.0.0.1", "-p", String(port)], outputPath: logPath)
        let server = MotoServer(process: process, port: port, logPath: logPath)
        do {
            try await server.waitUntilReady(httpClient)
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    /// Runs `body` with a fresh server and an HTTP client, stopping both afterwards whatever happens.
    public static func with<T>(_ body: (MotoServer, HTTPClient) async throws -> T) async throws -> T {
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let server = try await MotoServer.start(httpClient: httpClient)
            defer { server.stop() }
            let result = try await body(server, httpClient)
            try await httpClient.shutdown()
            return result
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
    }

    /// Turns on moto's request authentication (IAM users, policies and SigV4 signatures are then
    /// checked as AWS checks them); call it after the fixtures are made with any key.
    public func enableAuthentication(_ httpClient: HTTPClient) async throws {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(self.port)/moto-api/reset-auth")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: "0"))
        let response = try await httpClient.execute(request, timeout: .seconds(10))
        guard response.status == .ok else {
            throw SpawnError(command: "moto reset-auth", reason: "HTTP \(response.status.code)")
        }
    }

    public func stop() {
        self.process.stop(grace: .seconds(5))
        unlink(self.logPath)
    }

    private func waitUntilReady(_ httpClient: HTTPClient) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard self.process.isRunning else {
                let log = (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
                throw SpawnError(command: "moto_server", reason: "exited: \(log)")
            }
            let request = HTTPClientRequest(url: "http://127.0.0.1:\(self.port)/moto-api/")
            if let response = try? await httpClient.execute(request, timeout: .seconds(2)), response.status == .ok {
                return
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw SpawnError(command: "moto_server", reason: "did not become ready on port \(self.port)")
    }
}
