import Foundation
import Logging
import MeshClient
import MeshCore

/// The agent's local state: the services registered through its API and the probes it runs for
/// their HTTP and TCP checks. The catalog holds the truth of their health; this holds what the
/// agent owns, so that it can list, deregister and keep probing them.
actor LocalRegistry {
    private var services: [String: ServiceDefinition] = [:]
    /// Run by the local agent API's `serve`.
    nonisolated let probes = ProbeSet()

    func service(_ id: String) -> ServiceDefinition? { self.services[id] }

    var all: [ServiceDefinition] { Array(self.services.values) }

    /// The check `id` among the local services' checks.
    func check(_ id: String) -> AgentCheckDefinition? {
        self.services.values.lazy.flatMap(\.checks).first { $0.id == id }
    }

    /// Records `definition` (replacing one with its ID) and restarts its probes with `run`.
    func put(_ definition: ServiceDefinition, probe run: @escaping @Sendable (AgentCheckDefinition) async -> Void) {
        self.stopProbes(of: definition.id)
        self.services[definition.id] = definition
        for check in definition.checks {
            switch check.probe {
            case .ttl: continue
            case .http, .tcp, .grpc:
                self.probes.start(check.id) { await run(check) }
            }
        }
    }

    /// Adds (or replaces) a check of local service `check.serviceID`; false when there is no such service.
    func add(_ check: AgentCheckDefinition, probe run: @escaping @Sendable (AgentCheckDefinition) async -> Void) -> Bool
    {
        guard var definition = self.services[check.serviceID] else { return false }
        self.probes.stop(check.id)
        definition.checks.removeAll { $0.id == check.id }
        definition.checks.append(check)
        self.services[check.serviceID] = definition
        if case .ttl = check.probe {} else { self.probes.start(check.id) { await run(check) } }
        return true
    }

    /// Removes check `id` from its service; nil when no local service has it.
    func removeCheck(_ id: String) -> AgentCheckDefinition? {
        guard let check = self.check(id), var definition = self.services[check.serviceID] else { return nil }
        self.probes.stop(id)
        definition.checks.removeAll { $0.id == id }
        self.services[check.serviceID] = definition
        return check
    }

    func remove(_ id: String) -> ServiceDefinition? {
        self.stopProbes(of: id)
        return self.services.removeValue(forKey: id)
    }

    func removeAll() -> [ServiceDefinition] {
        for id in self.services.keys { self.stopProbes(of: id) }
        defer { self.services = [:] }
        return Array(self.services.values)
    }

    private func stopProbes(of serviceID: String) {
        for check in self.services[serviceID]?.checks ?? [] {
            self.probes.stop(check.id)
        }
    }
}
