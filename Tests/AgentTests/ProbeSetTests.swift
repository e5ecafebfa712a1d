import Synchronization
import Testing

@testable import MeshAgentAPI

/// The local checks' probes are child tasks of the local API's lifetime, stopped one by one.
@Suite(.timeLimit(.minutes(1))) struct ProbeSetTests {
    /// Counts how many probe bodies are running now, and which have started.
    final class Probes: Sendable {
        let running = Mutex<Set<String>>([])
        let started = Mutex<[String]>([])

        func body(_ name: String) -> @Sendable () async -> Void {
            {
                self.running.withLock { _ = $0.insert(name) }
                self.started.withLock { $0.append(name) }
                while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(5)) }
                self.running.withLock { _ = $0.remove(name) }
            }
        }

        func waitUntil(_ condition: @Sendable (Set<String>) -> Bool) async {
            while !self.running.withLock({ condition($0) }) { try? await Task.sleep(for: .milliseconds(5)) }
        }
    }

    @Test("a started probe runs; stopping it cancels it; its ID started again replaces it; the end of run() ends all")
    func lifecycle() async {
        let set = ProbeSet()
        let probes = Probes()
        await withDiscardingTaskGroup { group in
            group.addTask { await set.run() }
            set.start("a", probes.body("a1"))
            set.start("b", probes.body("b"))
            await probes.waitUntil { $0 == ["a1", "b"] }
            set.stop("b")
            await probes.waitUntil { $0 == ["a1"] }
            set.start("a", probes.body("a2"))
            await probes.waitUntil { $0 == ["a2"] }
            #expect(set.count == 1)
            group.cancelAll()
        }
        #expect(probes.running.withLock { $0.isEmpty })
        #expect(probes.started.withLock { $0.sorted() } == ["a1", "a2", "b"])
    }

    @Test("a probe started and stopped before run() begins never outlives it")
    func stoppedBeforeRun() async {
        let set = ProbeSet()
        let probes = Probes()
        set.start("early", probes.body("early"))
        set.stop("early")
        set.start("kept", probes.body("kept"))
        await withDiscardingTaskGroup { group in
            group.addTask { await set.run() }
            await probes.waitUntil { $0.contains("kept") }
            group.cancelAll()
        }
        #expect(probes.running.withLock { $0.isEmpty })
        #expect(set.count == 1)
    }
}
