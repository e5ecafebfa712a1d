import MeshTesting
import NIOCore
import NIOPosix
import Testing

/// Child processes get stdin, stdout and stderr only. A listening socket a child inherited stayed
/// open (and accepting) after this process closed it, for as long as the child lived: a closed
/// app still "answered" a draining proxy while the tests' PostgreSQL ran (found by the drain test).
@Suite struct SpawnedTests {
    @Test func aChildDoesNotKeepOurListeningSocketOpen() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let app = try await startApp(name: "app", group: group, belowEphemeralRange: true)
        let port = try #require(app.localAddress?.port)
        let child = try Spawned.launch("/bin/sleep", ["60"])
        defer { child.stop() }
        try await app.close()
        await #expect(throws: (any Error).self) {
            let channel = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get()
            try await channel.close()
        }
    }

    /// The test runner blocks SIGTERM in its threads; a child inherited that mask and ignored the
    /// SIGTERM meant to stop it, until `stop` killed it 15 s later.
    @Test(.timeLimit(.minutes(1))) func aChildStopsOnSIGTERM() async throws {
        let child = try Spawned.launch("/bin/sleep", ["60"])
        defer { child.stop() }
        child.terminate()
        #expect(try await child.waitForExit() == 128 + SIGTERM)
    }
}
