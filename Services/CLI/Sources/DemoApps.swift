public import ArgumentParser
import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MeshRPC
import NIOCore
import NIOHTTP1
import Synchronization

/// The walkthrough's small applications (`meshctl demo http-server|http-client`): what
/// `meshctl dev --demo` runs behind mesh-agent and mesh-proxy, as users' apps would be.
public struct DemoCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The walkthrough's demo applications.",
        subcommands: [HTTPServer.self, HTTPClientApp.self, Post.self]
    )

    public init() {}

    /// Answers `GET /` with "hello world" (and `X-Served-By: <name>`); `GET /health` is its
    /// health check, which `POST /fail` turns to 503 and `POST /recover` back, so a demo can fail it.
    struct HTTPServer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "http-server", abstract: "Say hello world.")

        @Option(help: "Listen address (loopback).")
        var listen: String

        @Option(help: "This instance's name, sent as X-Served-By.")
        var name: String

        func run() async throws {
            guard let address = HostPort(parsing: self.listen) else { throw CLIError("--listen: expected host:port") }
            let healthy = Atomic<Bool>(true)
            let router = Router()
            let name = self.name
            router.get("/") { _, _ -> Response in
                var headers = HTTPFields()
                headers[HTTPField.Name("X-Served-By")!] = name
                return Response(
                    status: .ok,
                    headers: headers,
                    body: .init(byteBuffer: ByteBuffer(string: "hello world\n"))
                )
            }
            router.get("/health") { _, _ -> Response in
                Response(status: healthy.load(ordering: .relaxed) ? .ok : .serviceUnavailable)
            }
            router.post("/fail") { _, _ -> Response in
                healthy.store(false, ordering: .relaxed)
                return Response(status: .ok)
            }
            router.post("/recover") { _, _ -> Response in
                healthy.store(true, ordering: .relaxed)
                return Response(status: .ok)
            }
            try await DemoCommand.serve(router, at: address, name: name)
        }
    }

    /// Calls its upstream (the local proxy's upstream listener) on every `GET /` and returns the
    /// answer with the instance that served it.
    struct HTTPClientApp: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "http-client",
            abstract: "Call http-server through the mesh."
        )

        @Option(help: "Listen address (loopback).")
        var listen: String

        @Option(help: "The upstream listener of the local proxy (host:port).")
        var upstream: String

        func run() async throws {
            guard let address = HostPort(parsing: self.listen) else { throw CLIError("--listen: expected host:port") }
            let upstream = self.upstream
            let router = Router()
            router.get("/") { _, _ -> Response in
                var request = HTTPClientRequest(url: "http://\(upstream)/")
                request.method = .GET
                do {
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
                    let body = try await response.body.collect(upTo: 1 << 20)
                    let servedBy = response.headers.first(name: "X-Served-By") ?? "?"
                    return Response(
                        status: .ok,
                        body: .init(byteBuffer: ByteBuffer(string: "\(servedBy): \(String(buffer: body))"))
                    )
                } catch {
                    return Response(
                        status: .badGateway,
                        body: .init(byteBuffer: ByteBuffer(string: "upstream failed: \(error)\n"))
                    )
                }
            }
            router.get("/health") { _, _ in Response(status: .ok) }
            try await DemoCommand.serve(router, at: address, name: "http-client")
        }
    }

    /// `POST`s to a URL and fails unless the answer is 2xx: how a test reaches a demo app inside
    /// its network namespace (`ip netns exec <ns> meshctl demo post <url>`).
    struct Post: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "post", abstract: "POST to a URL.")

        @Argument(help: "The URL.")
        var url: String

        func run() async throws {
            var request = HTTPClientRequest(url: self.url)
            request.method = .POST
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            guard (200..<300).contains(response.status.code) else {
                throw CLIError("POST \(self.url): \(response.status)")
            }
        }
    }

    static func serve(_ router: Router<BasicRequestContext>, at address: HostPort, name: String) async throws {
        MeshLogging.bootstrap(environment: ProcessInfo.processInfo.environment)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: name),
            logger: Logger(label: name)
        )
        try await app.runService()
    }
}
