import Foundation
import Hummingbird
import Logging
import MeshCore
import MeshRPC
import MeshServer
import MeshStore

/// `PUT /v1/txn`: up to 64 KV, node, service and check operations in one PostgreSQL
/// transaction, all or nothing. Permissions are checked for every operation first (each
/// refusal is an error of the answer, as in Consul); reads leave out what the caller may not
/// read. 200 with `Results`, or 409 with `Errors` (`OpIndex`, `What`) and nothing changed.
extension CatalogHTTP {
    /// Consul's `txn_max_req_len`.
    static let maximumTxnBodySize = 512 * 1024

    func addTxnRoutes(to v1: RouterGroup<BasicRequestContext>) {
        v1.put("txn") { request, _ in
            let limit = Self.maximumTxnBodySize
            let body = try await ConsulHTTP.body(of: request, limit: limit) {
                "Request body too large, max size: \(limit) bytes. See "
                    + "https://developer.hashicorp.com/docs/agent/config/config-files#txn_max_req_len."
            }
            let operations: [TxnOp]
            do {
                let value = try JSONValue(parsing: body.readableBytesView)
                guard !value.containsNUL else { throw TxnParseError("strings may not contain U+0000") }
                operations = try TxnOp.parse(value)
            } catch let failure as TxnFailure {
                return try ConsulHTTP.json(failure.json, status: .conflict)
            } catch {
                throw ConsulHTTPError(.badRequest, "Failed to parse body: \(error)")
            }
            guard operations.count <= TxnOp.maximumOperations else {
                throw ConsulHTTPError(
                    .contentTooLarge,
                    "Transaction contains too many operations (\(operations.count) > \(TxnOp.maximumOperations))"
                )
            }
            let caller = try await self.gate.caller(of: request)
            var refusals: [(index: Int, what: String)] = []
            for (position, operation) in operations.enumerated() {
                do {
                    try await self.authorize(operation, caller)
                } catch let error as ACLDenial {
                    refusals.append((position, error.description))
                } catch let error as ValidationError {
                    refusals.append((position, "\(error.field): \(error.reason)"))
                } catch let error as CatalogError {
                    refusals.append((position, error.description))
                }
            }
            guard refusals.isEmpty else {
                return try ConsulHTTP.json(TxnFailure(errors: refusals).json, status: .conflict)
            }
            do {
                let (results, index) = try await self.store.transact(operations)
                let visible = results.filter { Self.mayRead($0, caller.authorizer) }
                let readOnly = !operations.contains { $0.writes }
                return try ConsulHTTP.json(TxnAnswer(results: visible, index: readOnly ? max(index, 1) : nil))
            } catch let failure as TxnFailure {
                return try ConsulHTTP.json(failure.json, status: .conflict)
            }
        }
    }

    /// Refuses an operation the caller may not make (or that names no key).
    private func authorize(_ operation: TxnOp, _ caller: ACLCaller) async throws {
        if case .kv(let op) = operation, op.key.isEmpty && op.verb != .getTree && op.verb != .deleteTree {
            throw CatalogError.refused("Must provide key")
        }
        guard self.gate.isEnabled else { return }
        let authorizer = caller.authorizer
        switch operation {
        case .kv(let op):
            switch op.verb {
            case .get, .getTree, .getOrEmpty: return
            case .checkIndex, .checkSession: try caller.require(authorizer.keyRead(op.key), "key:read", on: op.key)
            case .deleteTree: try caller.require(authorizer.keyWritePrefix(op.key), "key:write", on: op.key)
            case .set, .cas, .lock, .unlock, .delete, .deleteCAS, .checkNotExists:
                try caller.require(authorizer.keyWrite(op.key), "key:write", on: op.key)
            }
        case .node, .service, .check:
            let access = CatalogAccess(store: self.store)
            if let registration = try operation.registration() {
                try await access.authorize(registration, caller: caller)
            } else if let target = operation.deregistration {
                try await access.authorize(target, caller: caller)
            }
        }
    }

    private static func mayRead(_ result: TxnResult, _ authorizer: ACLAuthorizer) -> Bool {
        switch result {
        case .kv(let entry): authorizer.keyRead(entry.key)
        case .node(let node): authorizer.nodeRead(node.name)
        case .service(let service): authorizer.serviceRead(service.name)
        case .check(let check):
            check.serviceName.isEmpty ? authorizer.nodeRead(check.node) : authorizer.serviceRead(check.serviceName)
        }
    }
}

/// A successful `/v1/txn` answer: `Results` (each `{"KV": ...}`, `{"Node": ...}`, ...) and
/// `Errors: null`; a read-only transaction also carries its index, as Consul's does.
struct TxnAnswer: Encodable {
    var results: [TxnResult]
    var index: ModifyIndex?

    enum Keys: String, CodingKey {
        case results = "Results"
        case errors = "Errors"
        case index = "Index"
        case lastContact = "LastContact"
        case knownLeader = "KnownLeader"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(self.results, forKey: .results)
        try container.encodeNil(forKey: .errors)
        if let index = self.index {
            try container.encode(index, forKey: .index)
            try container.encode(0, forKey: .lastContact)
            try container.encode(true, forKey: .knownLeader)
        }
    }
}

extension TxnResult: Encodable {
    private enum Keys: String, CodingKey {
        case kv = "KV"
        case node = "Node"
        case service = "Service"
        case check = "Check"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        switch self {
        case .kv(let entry): try container.encode(entry, forKey: .kv)
        case .node(let node): try container.encode(ConsulJSON.node(node), forKey: .node)
        case .service(let service): try container.encode(ConsulJSON.nodeService(service), forKey: .service)
        case .check(let check): try container.encode(ConsulJSON.check(check), forKey: .check)
        }
    }
}
