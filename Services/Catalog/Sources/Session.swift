import Foundation
import MeshCore
import MeshRPC
import MeshStore

/// A session (Consul's `/v1/session`): what holds KV locks, and ends when its node or a check it
/// names fails, when its TTL lapses without renewal, or when destroyed.
struct Session: Sendable, Equatable {
    enum Behavior: String, Sendable {
        case release
        case delete
    }

    var id: String
    var name: String
    /// "" for a session created on the control plane's address without a node (TTL-bound only).
    var node: String
    var nodeChecks: [String]
    var serviceChecks: [String]
    var lockDelay: Duration
    var behavior: Behavior
    /// As given ("" for none): Consul shows it as written.
    var ttl: String
    var createIndex: ModifyIndex = 0
    var modifyIndex: ModifyIndex = 0

    /// Consul's bounds on a session TTL.
    static let ttlRange: ClosedRange<Duration> = .seconds(10) ... .seconds(86_400)
    /// Consul's default lock-delay.
    static let defaultLockDelay: Duration = .seconds(15)
    /// The node check every session on a node has unless told otherwise (Consul's gossip
    /// health); here it stands for the node's agent-liveness checks.
    static let serfHealth = "serfHealth"

    var ttlDuration: Duration? {
        guard !self.ttl.isEmpty, let value = GoDuration.parse(self.ttl), value > .zero else { return nil }
        return value
    }

    var json: JSONValue {
        .object([
            "ID": .string(self.id),
            "Name": .string(self.name),
            "Node": .string(self.node),
            "LockDelay": .number(Double(self.lockDelay.totalNanoseconds)),
            "Behavior": .string(self.behavior.rawValue),
            "TTL": .string(self.ttl),
            "NodeChecks": .array(self.nodeChecks.map(JSONValue.string)),
            "ServiceChecks": self.serviceChecks.isEmpty
                ? .null : .array(self.serviceChecks.map { .object(["ID": .string($0), "Namespace": .string("")]) }),
            "CreateIndex": .number(Double(self.createIndex)),
            "ModifyIndex": .number(Double(self.modifyIndex)),
        ])
    }
}

extension Session {
    /// Reads a `PUT /v1/session/create` body (an empty body takes every default). `node` is
    /// the node a session without `Node` binds to ("" on the control plane's address).
    static func parse(_ body: JSONValue?, id: String, defaultNode: String) throws(CatalogError) -> Session {
        do {
            return try Self.parse(LenientObject(body ?? .object([:])), id: id, defaultNode: defaultNode)
        } catch let error as CatalogError {
            throw error
        } catch {
            throw .refused("Request decode failed: \(error)")
        }
    }

    private static func parse(_ fields: LenientObject, id: String, defaultNode: String) throws -> Session {
        let node = try fields.string("Node").flatMap { $0.isEmpty ? nil : $0 } ?? defaultNode
        let behaviorText = try fields.string("Behavior") ?? ""
        guard let behavior = behaviorText.isEmpty ? .release : Behavior(rawValue: behaviorText) else {
            throw CatalogError.refused("Invalid Behavior setting '\(behaviorText)'")
        }
        let ttl = try fields.string("TTL") ?? ""
        let ttlValue = ttl.isEmpty ? Duration.zero : GoDuration.parse(ttl)
        guard let ttlValue else { throw CatalogError.refused("Session TTL '\(ttl)' invalid: not a duration") }
        if ttlValue != .zero && !Self.ttlRange.contains(ttlValue) {
            throw CatalogError.refused(
                "Invalid Session TTL '\(ttlValue.totalNanoseconds)', must be between [10s=24h0m0s]"
            )
        }
        let lockDelay = try Self.lockDelay(fields.raw("LockDelay"))
        // Consul's fixupEmptySessionChecks: `Checks: []` means no checks at all; other `Checks`
        // (deprecated) add to the node checks.
        var nodeChecks = try fields.stringArray("NodeChecks")
        if let checks = try fields.stringArray("Checks") {
            if checks.isEmpty {
                nodeChecks = []
            } else if checks != [Self.serfHealth] {
                let current = nodeChecks ?? [Self.serfHealth]
                nodeChecks = current + checks.filter { !current.contains($0) }
            }
        }
        let serviceChecks = try Self.serviceChecks(fields.raw("ServiceChecks"))
        if node.isEmpty {
            guard nodeChecks?.isEmpty ?? true, serviceChecks.isEmpty else {
                throw CatalogError.refused("Session checks need a Node: name the node the checks are on")
            }
            guard ttlValue != .zero else {
                throw CatalogError.refused(
                    "A session without a Node needs a TTL: there is no agent node behind the control plane's "
                        + "address (create it through the local agent, or give Node or TTL)"
                )
            }
            nodeChecks = []
        }
        return Session(
            id: id,
            name: try fields.string("Name") ?? "",
            node: node,
            nodeChecks: nodeChecks ?? [Self.serfHealth],
            serviceChecks: serviceChecks,
            lockDelay: lockDelay,
            behavior: behavior,
            ttl: ttl
        )
    }

    /// `LockDelay`: a duration string or a number of nanoseconds; below 1000 ns it counts in
    /// seconds, as Consul reads it (`15` is 15 s). Kept as given; lock-delays longer than 60 s
    /// are cut to 60 s when applied.
    static func lockDelay(_ raw: JSONValue?) throws(CatalogError) -> Duration {
        let delay: Duration
        switch raw {
        case nil, .null?: return Self.defaultLockDelay
        case .string(let text)?:
            guard let value = GoDuration.parse(text), value >= .zero else {
                throw .refused("Request decode failed: time: invalid duration \"\(text)\"")
            }
            delay = value
        case .number(let number)? where number >= 0 && number == number.rounded() && number < 9e18:
            delay = .nanoseconds(Int64(number))
        default:
            throw .refused("Request decode failed: LockDelay: expected a duration")
        }
        return delay < .nanoseconds(1000) ? .seconds(delay.totalNanoseconds) : delay
    }

    static func serviceChecks(_ raw: JSONValue?) throws -> [String] {
        switch raw {
        case nil, .null?: return []
        case .array(let items)?:
            return try items.map { item in
                guard case .object(let fields) = item,
                    case .string(let id)? = fields["ID"] ?? fields["id"], !id.isEmpty
                else {
                    throw CatalogError.refused("Request decode failed: ServiceChecks: each needs an ID")
                }
                return id
            }
        default:
            throw CatalogError.refused("Request decode failed: ServiceChecks: expected a list")
        }
    }
}
