import AWS
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A `moto_server` on a free 127.0.0.1 port for the length of one test, plus clients pointed at it.
struct MotoServer {
    static var isInstalled: Bool { BackgroundProcess.isInstalled("moto_server") }

    let process: BackgroundProcess
    let port: Int
    let logPath: String

    var endpoint: URL {
        URL(string: "http://127.0.0.1:\(self.port)/")!
    }

    /// Runs `body` with a fresh moto server and an HTTP client, stopping both afterwards whatever happens.
    static func with<T>(_ body: (MotoServer, HTTPClient) async throws -> T) async throws -> T {
        let port = try BackgroundProcess.freePort()
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("moto-\(port).log").path
        let process = try BackgroundProcess(["moto_server", "-H", "127.0.0.1", "-p", String(port)], logPath: logPath)
        let server = MotoServer(process: process, port: port, logPath: logPath)
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await server.waitUntilReady(httpClient)
            let result = try await body(server, httpClient)
            try await httpClient.shutdown()
            process.stop()
            return result
        } catch {
            try? await httpClient.shutdown()
            process.stop()
            throw error
        }
    }

    private func waitUntilReady(_ httpClient: HTTPClient) async throws {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            guard self.process.isRunning else {
                let log = (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
                throw Spawn.Failure(description: "moto_server exited: \(log)")
            }
            let request = HTTPClientRequest(url: "http://127.0.0.1:\(self.port)/moto-api/")
            if let response = try? await httpClient.execute(request, timeout: .seconds(2)), response.status == .ok {
                return
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw Spawn.Failure(description: "moto_server did not become ready on port \(self.port)")
    }

    /// Any key pair works against moto; these are the documented example keys.
    static let credentials = StaticCredentialsProvider(
        AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    )
}
