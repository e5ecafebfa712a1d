import AsyncHTTPClient
import Foundation
import MeshLocal
import MeshRPC
import NIOCore
import NIOHTTP1

/// Waits for a service's readiness endpoint.
enum HTTPProbe {
    static func waitUntilReady(
        _ address: HostPort,
        name: String,
        child: Spawned,
        timeout: Duration,
        client: HTTPClient = .shared,
        scheme: String = "http"
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        var lastError = "no answer"
        while ContinuousClock.now < deadline {
            guard child.isRunning else { throw CLIError("\(name) exited during start-up") }
            do {
                var request = HTTPClientRequest(url: "\(scheme)://\(address)/ready")
                request.method = .GET
                let response = try await client.execute(request, timeout: .seconds(2))
                if response.status == .ok { return }
                lastError = "status \(response.status.code)"
            } catch {
                lastError = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CLIError("\(name) not ready after \(timeout): \(lastError)")
    }
}
