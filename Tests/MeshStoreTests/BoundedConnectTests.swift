import Foundation
import Logging
import MeshStore
import MeshTesting
import PostgresNIO
import Testing

/// A connection to a server that takes the TCP connection and never answers its startup (a
/// PostgreSQL in the middle of a restart): the attempt must end, by its deadline or its caller's
/// cancellation, instead of holding a replica's leader election and shutdown forever. (Without
/// the bound the attempt never ends: the suite's time limit fails it. The bounds asserted here
/// are generous: a loaded CI machine once took 5.5 s to end a 0.5 s deadline.)
@Suite(.timeLimit(.minutes(2))) struct BoundedConnectTests {
    private func configuration(port: Int) throws -> PostgresConnection.Configuration {
        try DatabaseSettings(port: port).connectionConfiguration()
    }

    @Test("a startup nobody answers ends at the deadline")
    func deadline() async throws {
        let listener = try SilentListener()
        let port = listener.port
        let start = ContinuousClock.now
        await #expect(throws: PostgresTimeout.self) {
            _ = try await PostgresConnection.connect(
                bounded: try self.configuration(port: port),
                id: 1,
                timeout: .milliseconds(500),
                logger: Logger(label: "test")
            )
        }
        #expect(ContinuousClock.now - start < .seconds(60))
    }

    @Test("a startup nobody answers ends when its caller is cancelled")
    func cancellation() async throws {
        let listener = try SilentListener()
        let port = listener.port
        let configuration = try self.configuration(port: port)
        let attempt = Task {
            try await PostgresConnection.connect(
                bounded: configuration,
                id: 1,
                timeout: .seconds(600),
                logger: Logger(label: "test")
            )
        }
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        attempt.cancel()
        await #expect(throws: CancellationError.self) { _ = try await attempt.value }
        // Far less than the attempt's own 600 s deadline: the cancellation ended it.
        #expect(ContinuousClock.now - start < .seconds(60))
    }
}
