import Hummingbird
import MeshClient
import MeshRPC
import MeshTesting
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// The agent's calls to the control plane ride out a replica that dies or stops under them.
@Suite struct ConsulAPIRetryTests {
    /// A server whose first `failures` answers are 502, then 200; it counts the requests.
    private func withFlakyServer(
        failures: Int,
        _ body: @Sendable (String, @Sendable () -> Int) async throws -> Void
    ) async throws {
        let seen = Atomic<Int>(0)
        let router = Router()
        router.on("/v1/catalog/register", method: .put) { _, _ -> Response in
            let count = seen.wrappingAdd(1, ordering: .relaxed).newValue
            return Response(
                status: count <= failures ? .badGateway : .ok,
                body: .init(byteBuffer: .init(string: "true"))
            )
        }
        router.on("/v1/acl/login", method: .post) { _, _ -> Response in
            seen.wrappingAdd(1, ordering: .relaxed)
            return Response(status: .badGateway)
        }
        let port = try FreePort.pick()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService(gracefulShutdownSignals: []) }
            try await eventually("the server listens") {
                (try? await TestAPI(HostPort(host: "127.0.0.1", port: port)).get("/").status) != nil
            }
            try await body("127.0.0.1:\(port)") { seen.load(ordering: .relaxed) }
            group.cancelAll()
        }
    }

    @Test("an idempotent call is tried again after 502s and succeeds; without retries it fails")
    func idempotentCallRetried() async throws {
        try await self.withFlakyServer(failures: 2) { address, seen in
            var api = ConsulAPI(address: address)
            api.transientRetries = 3
            _ = try await api.call(.PUT, "/v1/catalog/register")
            #expect(seen() == 3)
        }
        try await self.withFlakyServer(failures: 2) { address, seen in
            await #expect(throws: ConsulAPIError.status(502, "true")) {
                _ = try await ConsulAPI(address: address).call(.PUT, "/v1/catalog/register")
            }
            #expect(seen() == 1)
        }
    }

    @Test("a POST (a login: sent twice, two tokens) is not tried again")
    func postNotRetried() async throws {
        try await self.withFlakyServer(failures: 0) { address, seen in
            var api = ConsulAPI(address: address)
            api.transientRetries = 3
            await #expect(throws: ConsulAPIError.self) { _ = try await api.call(.POST, "/v1/acl/login") }
            #expect(seen() == 1)
        }
    }
}
