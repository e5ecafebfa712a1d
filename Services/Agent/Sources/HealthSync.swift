import Foundation
import Logging
import MeshCore

/// consul-ecs's health sync and graceful shutdown for one task: keeps the instance's check in
/// step with its containers' Docker health; at SIGTERM marks it critical at once, waits until
/// the application and the proxy have exited, then deregisters it and logs out, last.
public struct HealthSync: Sendable {
    public var agent: Agent
    public var instance: AppInstance
    public var token: String
    public var interval: Duration
    /// How long shutdown waits for the other containers before deregistering anyway.
    public var shutdownTimeout: Duration
    /// What decides the instance's status, and tells when its other parts have exited.
    public var health: HealthSource

    public init(
        agent: Agent,
        instance: AppInstance,
        token: String,
        interval: Duration = .seconds(1),
        shutdownTimeout: Duration = .seconds(30),
        health: HealthSource
    ) {
        self.agent = agent
        self.instance = instance
        self.token = token
        self.interval = interval
        self.shutdownTimeout = shutdownTimeout
        self.health = health
    }

    private var logger: Logger { self.agent.logger }

    /// Syncs until the task is cancelled: a status change is written at once; the same status is
    /// written again every 30 intervals, so a lost write heals.
    public func run() async {
        var last: (CheckStatus, String)?
        var sinceWrite = 0
        var lastBeat = ContinuousClock.now
        while !Task.isCancelled {
            if let ttl = self.instance.livenessTTL, ContinuousClock.now - lastBeat >= ttl / 3, last != nil {
                do {
                    try await self.agent.heartbeat(self.instance, token: self.token)
                    lastBeat = .now
                } catch {
                    self.logger.warning("liveness heartbeat failed", metadata: [LogKey.error: "\(error)"])
                }
            }
            do {
                let health = try await self.health.probe()
                if last.map({ $0 != health }) ?? true || sinceWrite >= 30 {
                    try await self.agent.register(self.instance, token: self.token, health: health)
                    if last?.0 != health.0 {
                        self.logger.info(
                            "health synced",
                            metadata: [LogKey.status: "\(health.0.rawValue)", LogKey.output: "\(health.1)"]
                        )
                    }
                    last = health
                    sinceWrite = 0
                    lastBeat = .now
                }
                sinceWrite += 1
            } catch {
                if Task.isCancelled { return }
                self.logger.warning("health sync failed; retrying", metadata: [LogKey.error: "\(error)"])
                last = nil
            }
            try? await Task.sleep(for: self.interval)
        }
    }

    /// The shutdown order: critical now; deregister and log out once every other container has
    /// stopped (or at the timeout).
    public func shutdown(logout: Bool) async throws {
        do {
            try await self.agent.register(self.instance, token: self.token, health: (.critical, "the task is stopping"))
            self.logger.info("marked critical: the task is stopping")
        } catch {
            self.logger.error("could not mark the instance critical", metadata: [LogKey.error: "\(error)"])
        }
        let deadline = ContinuousClock.now + self.shutdownTimeout
        while ContinuousClock.now < deadline {
            if await self.health.othersStopped() { break }
            try? await Task.sleep(for: self.interval)
        }
        try await self.agent.shutdown(self.instance, token: self.token, logout: logout)
    }
}
