import Foundation
import MeshCore
import MeshStore
import PostgresNIO

/// What one operation of a transaction answers (Consul's `TxnResult`).
enum TxnResult: Sendable {
    case kv(KVEntry)
    case node(CatalogNode)
    case service(ServiceInstance)
    case check(HealthCheck)
}

extension TxnOp {
    /// The catalog registration a node, service or check `set`/`cas` makes (nil for other verbs).
    func registration() throws -> Registration? {
        switch self {
        case .kv: return nil
        case .node(let verb, var body, _, _):
            guard verb == .set || verb == .cas else { return nil }
            // A `Node` object names its metadata `Meta`; a registration `NodeMeta`.
            if let meta = body.first(where: { $0.key.lowercased() == "meta" }) {
                body[meta.key] = nil
                body["NodeMeta"] = meta.value
            }
            return try ConsulRequest.registration(.object(body))
        case .service(let verb, let node, let body, _, _):
            guard verb == .set || verb == .cas else { return nil }
            return try ConsulRequest.registration(
                .object(["Node": .string(node), "SkipNodeUpdate": .bool(true), "Service": .object(body)])
            )
        case .check(let verb, let node, let body, _, _):
            guard verb == .set || verb == .cas else { return nil }
            return try ConsulRequest.registration(
                .object(["Node": .string(node), "SkipNodeUpdate": .bool(true), "Check": .object(body)])
            )
        }
    }

    /// The catalog removal a node, service or check `delete`/`delete-cas` makes (nil otherwise).
    var deregistration: Deregistration? {
        switch self {
        case .kv: nil
        case .node(let verb, _, let name, _): verb == .delete || verb == .deleteCAS ? .node(name) : nil
        case .service(let verb, let node, _, let id, _):
            verb == .delete || verb == .deleteCAS ? .service(node: node, serviceID: id) : nil
        case .check(let verb, let node, _, let id, _):
            verb == .delete || verb == .deleteCAS ? .check(node: node, checkID: id) : nil
        }
    }
}

extension CatalogStore {
    /// Runs `operations` in one PostgreSQL transaction, all or nothing: the first that fails
    /// rolls everything back and throws `TxnFailure` with Consul's words. Returns each
    /// operation's results (a delete has none, a `get-tree` one per entry) and the highest
    /// index written (0 when nothing was).
    func transact(_ operations: [TxnOp]) async throws -> (results: [TxnResult], index: ModifyIndex) {
        let logger = self.logger
        let (results, index, topics): ([TxnResult], ModifyIndex, Set<ChangeTopic>) =
            try await self.client.transaction(logger: logger) { connection in
                var results: [TxnResult] = []
                var index: ModifyIndex = 0
                var topics = Set<ChangeTopic>()
                for (position, operation) in operations.enumerated() {
                    do {
                        let outcome = try await self.apply(operation, on: connection)
                        results += outcome.results
                        index = max(index, outcome.index)
                        topics.formUnion(outcome.topics)
                    } catch let failure as TxnFailure {
                        throw TxnFailure(position, failure.errors.first?.what ?? "failed")
                    } catch let error as PSQLError {
                        throw TxnFailure(position, "\(Self.mapped(error))")
                    } catch let error as CatalogError {
                        throw TxnFailure(position, error.description)
                    } catch let error as ValidationError {
                        throw TxnFailure(position, "\(error.field): \(error.reason)")
                    }
                }
                return (results, index, topics)
            }
        if index > 0 { self.feed.publish(topics, index: index) }
        return (results, index)
    }

    private struct Outcome {
        var results: [TxnResult] = []
        var index: ModifyIndex = 0
        var topics = Set<ChangeTopic>()
    }

    private func apply(_ operation: TxnOp, on connection: PostgresConnection) async throws -> Outcome {
        switch operation {
        case .kv(let op): return try await self.apply(op, on: connection)
        case .node(let verb, _, let name, let index):
            return try await self.applyCatalog(
                operation,
                verb: verb,
                index: index,
                current: "SELECT modify_index FROM catalog.nodes WHERE name = \(name) FOR UPDATE",
                missing: "node \"\(name)\" doesn't exist",
                stale: "node \"\(name)\"",
                read: { try await self.node(name, on: connection).map(TxnResult.node) },
                on: connection
            )
        case .service(let verb, let node, _, let id, let index):
            return try await self.applyCatalog(
                operation,
                verb: verb,
                index: index,
                current: """
                    SELECT modify_index FROM catalog.services WHERE node = \(node) AND service_id = \(id) FOR UPDATE
                    """,
                missing: "service \"\(id)\" on node \"\(node)\" doesn't exist",
                stale: "service \"\(id)\" on node \"\(node)\"",
                read: {
                    try await self.nodeServices(node, on: connection).0?.services.first { $0.id == id }
                        .map(TxnResult.service)
                },
                on: connection
            )
        case .check(let verb, let node, _, let id, let index):
            return try await self.applyCatalog(
                operation,
                verb: verb,
                index: index,
                current: "SELECT modify_index FROM catalog.checks WHERE node = \(node) AND check_id = \(id) FOR UPDATE",
                missing: "check \"\(id)\" on node \"\(node)\" doesn't exist",
                stale: "check \"\(id)\" on node \"\(node)\"",
                read: {
                    try await self.checks(.node(node), on: connection).0.first { $0.checkID == id }
                        .map(TxnResult.check)
                },
                on: connection
            )
        }
    }

    /// A node, service or check operation: `get` reads; `cas` and `delete-cas` first compare the
    /// stored ModifyIndex (0: only when absent, for `cas`); `set`/`cas` answer what is stored after.
    private func applyCatalog(
        _ operation: TxnOp,
        verb: TxnOp.CatalogVerb,
        index: UInt64,
        current: PostgresQuery,
        missing: String,
        stale: String,
        read: () async throws -> TxnResult?,
        on connection: PostgresConnection
    ) async throws -> Outcome {
        if verb == .cas || verb == .deleteCAS {
            var stored: Int64?
            for try await value in try await connection.query(current, logger: self.logger).decode(Int64.self) {
                stored = value
            }
            let holds = index == 0 && verb == .cas ? stored == nil : stored == Int64(bitPattern: index)
            guard holds else {
                throw TxnFailure(0, "failed to \(verb == .cas ? "set" : "delete") \(stale), index is stale")
            }
        }
        var outcome = Outcome()
        if let registration = try operation.registration() {
            if case .service = operation, try await self.node(registration.node.name, on: connection) == nil {
                throw TxnFailure(0, "node \"\(registration.node.name)\" doesn't exist")
            }
            try await self.collect(try self.registerQuery(registration), into: &outcome, on: connection)
        } else if let target = operation.deregistration {
            try await self.collect(try Self.deregisterQuery(target), into: &outcome, on: connection)
            return outcome
        }
        guard let result = try await read() else { throw TxnFailure(0, missing) }
        outcome.results = [result]
        return outcome
    }

    private func node(_ name: String, on connection: PostgresConnection) async throws -> CatalogNode? {
        try await self.nodeServices(name, on: connection).0?.node
    }

    private func collect(
        _ query: PostgresQuery,
        into outcome: inout Outcome,
        on connection: PostgresConnection
    )
        async throws
    {
        for try await (index, topics) in try await connection.query(query, logger: self.logger)
            .decode((Int64, [String]).self)
        {
            outcome.index = max(outcome.index, UInt64(max(index, 0)))
            outcome.topics.formUnion(topics.map(ChangeTopic.init))
        }
    }

    private func apply(_ op: TxnOp.KV, on connection: PostgresConnection) async throws -> Outcome {
        let key = op.key
        var outcome = Outcome()
        func write<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> Bool
        where Statement.Row == KVWritten {
            var ok = false
            for try await written in try await connection.execute(statement, logger: self.logger) {
                ok = written.ok
                if written.index > 0 {
                    outcome.index = max(outcome.index, UInt64(written.index))
                    outcome.topics.formUnion(KVKeys.topics(of: written.keys))
                }
            }
            return ok
        }
        func stored(values: Bool = false) async throws -> KVEntry? {
            try await self.kvEntries(.key(key), values: values, on: connection).first
        }
        func answer(values: Bool = false) async throws -> Outcome {
            if let entry = try await stored(values: values) { outcome.results = [.kv(entry)] }
            return outcome
        }
        switch op.verb {
        case .set:
            _ = try await write(KVSetStatement(key: key, value: op.value, flags: op.flags, cas: nil, lock: .none))
            return try await answer()
        case .cas:
            guard
                try await write(KVSetStatement(key: key, value: op.value, flags: op.flags, cas: op.index, lock: .none))
            else { throw TxnFailure(0, "failed to set key \"\(key)\", index is stale") }
            return try await answer()
        case .lock:
            guard !op.session.isEmpty else { throw TxnFailure(0, "missing session") }
            let query = KVSetStatement(
                key: key,
                value: op.value,
                flags: op.flags,
                cas: nil,
                lock: .acquire(op.session)
            )
            guard try await write(query) else {
                let holder = try await stored()?.session
                throw TxnFailure(
                    0,
                    holder != nil && holder != op.session
                        ? "failed to lock key \"\(key)\", lock is already held"
                        : "failed to lock key \"\(key)\" due to lock delay"
                )
            }
            return try await answer()
        case .unlock:
            guard !op.session.isEmpty else { throw TxnFailure(0, "missing session") }
            let query = KVSetStatement(
                key: key,
                value: op.value,
                flags: op.flags,
                cas: nil,
                lock: .release(op.session)
            )
            guard try await write(query) else {
                throw TxnFailure(0, "failed to unlock key \"\(key)\", lock isn't held, or is held by another session")
            }
            return try await answer()
        case .get:
            guard try await stored() != nil else { throw TxnFailure(0, "key \"\(key)\" doesn't exist") }
            return try await answer(values: true)
        case .getOrEmpty:
            let entry =
                try await stored(values: true)
                ?? KVEntry(key: key, flags: 0, value: nil, session: nil, lockIndex: 0, createIndex: 0, modifyIndex: 0)
            outcome.results = [.kv(entry)]
            return outcome
        case .getTree:
            outcome.results = try await self.kvEntries(.prefix(key), values: true, on: connection)
                .map(TxnResult.kv)
            return outcome
        case .checkIndex:
            guard let entry = try await stored() else {
                throw TxnFailure(0, "failed to check index, key \"\(key)\" doesn't exist")
            }
            guard entry.modifyIndex == op.index else {
                throw TxnFailure(
                    0,
                    "failed index check for key \"\(key)\", current modify index \(entry.modifyIndex) != \(op.index)"
                )
            }
            return try await answer()
        case .checkSession:
            guard let entry = try await stored() else {
                throw TxnFailure(0, "failed to check session, key \"\(key)\" doesn't exist")
            }
            guard (entry.session ?? "") == op.session else {
                throw TxnFailure(
                    0,
                    "failed session check for key \"\(key)\", current session \"\(entry.session ?? "")\" != \"\(op.session)\""
                )
            }
            return try await answer()
        case .checkNotExists:
            guard try await stored() == nil else { throw TxnFailure(0, "key \"\(key)\" exists") }
            return outcome
        case .delete:
            _ = try await write(KVDeleteStatement(key: key, recurse: false, cas: nil))
            return outcome
        case .deleteTree:
            _ = try await write(KVDeleteStatement(key: key, recurse: true, cas: nil))
            return outcome
        case .deleteCAS:
            guard try await write(KVDeleteStatement(key: key, recurse: false, cas: op.index)) else {
                throw TxnFailure(0, "failed to delete key \"\(key)\", index is stale")
            }
            return outcome
        }
    }
}
