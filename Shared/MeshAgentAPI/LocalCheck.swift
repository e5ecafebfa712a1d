public import AsyncHTTPClient
import Foundation
public import MeshCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// A health check the agent runs itself off ECS, as a Consul agent does: HTTP (a 2xx answer
/// passes), TCP (a connection passes) or gRPC (the health protocol answers `SERVING`), each
/// bounded by a timeout.
public enum LocalCheck: Sendable, Equatable {
    case http(String)
    case tcp(host: String, port: Int)
    case grpc(GRPCHealthCheck)

    /// Runs the check once.
    public func run(
        timeout: Duration = .seconds(2),
        httpClient: HTTPClient = .shared
    ) async -> (CheckStatus, String) {
        switch self {
        case .http(let url):
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .GET
                let response = try await httpClient.execute(request, timeout: .milliseconds(Self.milliseconds(timeout)))
                _ = try? await response.body.collect(upTo: 64 << 10)
                let code = Int(response.status.code)
                return (200..<300).contains(code)
                    ? (.passing, "HTTP GET \(url): \(code)") : (.critical, "HTTP GET \(url): \(code)")
            } catch {
                return (.critical, "HTTP GET \(url): \(error)")
            }
        case .tcp(let host, let port):
            return await Self.accepts(host: host, port: port, timeout: timeout)
                ? (.passing, "TCP connect \(host):\(port): Success")
                : (.critical, "TCP connect \(host):\(port): refused")
        case .grpc(let check):
            return await check.run(timeout: timeout)
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 { max(Int64(duration / .milliseconds(1)), 1) }

    /// Whether `host:port` accepts a TCP connection within `timeout`.
    public static func accepts(host: String, port: Int, timeout: Duration = .seconds(1)) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(Self.milliseconds(timeout)))
                .connect(host: host, port: port).get()
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }
}
