import Foundation
import MeshCore
import MeshRPC

/// One operation of a `PUT /v1/txn` (Consul's `TxnOp`): a KV, node, service or check verb.
enum TxnOp: Sendable {
    case kv(KV)
    case node(verb: CatalogVerb, body: [String: JSONValue], name: String, index: UInt64)
    case service(verb: CatalogVerb, node: String, body: [String: JSONValue], id: String, index: UInt64)
    case check(verb: CatalogVerb, node: String, body: [String: JSONValue], id: String, index: UInt64)

    struct KV: Sendable {
        enum Verb: String, Sendable {
            case set, cas, lock, unlock, get
            case getTree = "get-tree"
            case getOrEmpty = "get-or-empty"
            case checkIndex = "check-index"
            case checkSession = "check-session"
            case checkNotExists = "check-not-exists"
            case delete
            case deleteTree = "delete-tree"
            case deleteCAS = "delete-cas"

            var writes: Bool {
                switch self {
                case .set, .cas, .lock, .unlock, .delete, .deleteTree, .deleteCAS: true
                case .get, .getTree, .getOrEmpty, .checkIndex, .checkSession, .checkNotExists: false
                }
            }
        }

        var verb: Verb
        var key: String
        var value: [UInt8]
        var flags: UInt64
        var index: UInt64
        var session: String
    }

    enum CatalogVerb: String, Sendable {
        case get, set, cas, delete
        case deleteCAS = "delete-cas"
    }

    /// Consul's limit on operations in one transaction.
    static let maximumOperations = 64

    var writes: Bool {
        switch self {
        case .kv(let op): op.verb.writes
        case .node(let verb, _, _, _), .service(let verb, _, _, _, _), .check(let verb, _, _, _, _): verb != .get
        }
    }

    /// Reads the request body: a JSON array of objects with one of `KV`, `Node`, `Service`,
    /// `Check` each (elements with none are skipped, as Consul does). Throws `TxnParseError`
    /// (Consul's `Failed to parse body: <reason>`) or, for unknown verbs, `TxnFailure`.
    static func parse(_ body: JSONValue) throws -> [TxnOp] {
        guard case .array(let items) = body else { throw TxnParseError("the body must be a JSON array") }
        var operations: [TxnOp] = []
        var unknownVerbs: [(index: Int, what: String)] = []
        for (position, item) in items.enumerated() {
            do {
                if let op = try Self.parse(item) { operations.append(op) }
            } catch let error as TxnVerbError {
                // Consul decodes any verb and refuses it per operation (409).
                unknownVerbs.append((operations.count, error.description))
            } catch {
                throw TxnParseError("operation \(position): \(error)")
            }
        }
        if !unknownVerbs.isEmpty { throw TxnFailure(errors: unknownVerbs) }
        return operations
    }

    private static func parse(_ item: JSONValue) throws -> TxnOp? {
        let object = try LenientObject(item)
        if let kv = try object.object("KV") {
            let verbText = try kv.string("Verb") ?? ""
            guard let verb = KV.Verb(rawValue: verbText) else { throw TxnVerbError("unknown KV verb \"\(verbText)\"") }
            var value: [UInt8] = []
            if let text = try kv.string("Value") {
                guard let data = Data(base64Encoded: text) else { throw TxnParseError("KV.Value: not base64") }
                value = Array(data)
            }
            return .kv(
                KV(
                    verb: verb,
                    key: try kv.string("Key") ?? "",
                    value: value,
                    flags: try Self.unsigned(kv.raw("Flags"), "KV.Flags"),
                    index: try Self.unsigned(kv.raw("Index"), "KV.Index"),
                    session: try kv.string("Session") ?? ""
                )
            )
        }
        if let node = try object.object("Node") {
            let verb = try Self.catalogVerb(node, "Node")
            guard case .object(var body)? = node.raw("Node") else {
                throw TxnParseError("Node.Node: expected an object")
            }
            let name = try LenientObject(.object(body)).string("Node") ?? ""
            let index = try Self.unsigned(LenientObject(.object(body)).raw("ModifyIndex"), "Node.ModifyIndex")
            body = body.filter { $0.key.lowercased() != "modifyindex" }
            return .node(verb: verb, body: body, name: name, index: index)
        }
        if let service = try object.object("Service") {
            let verb = try Self.catalogVerb(service, "Service")
            guard case .object(var body)? = service.raw("Service") else {
                throw TxnParseError("Service.Service: expected an object")
            }
            let fields = try LenientObject(.object(body))
            let id = try fields.string("ID") ?? fields.string("Service") ?? ""
            let index = try Self.unsigned(fields.raw("ModifyIndex"), "Service.ModifyIndex")
            body = body.filter { $0.key.lowercased() != "modifyindex" }
            return .service(verb: verb, node: try service.string("Node") ?? "", body: body, id: id, index: index)
        }
        if let check = try object.object("Check") {
            let verb = try Self.catalogVerb(check, "Check")
            guard case .object(var body)? = check.raw("Check") else {
                throw TxnParseError("Check.Check: expected an object")
            }
            let fields = try LenientObject(.object(body))
            let index = try Self.unsigned(fields.raw("ModifyIndex"), "Check.ModifyIndex")
            body = body.filter { $0.key.lowercased() != "modifyindex" }
            return .check(
                verb: verb,
                node: try fields.string("Node") ?? "",
                body: body,
                id: try fields.string("CheckID") ?? "",
                index: index
            )
        }
        return nil
    }

    private static func catalogVerb(_ object: LenientObject, _ kind: String) throws -> CatalogVerb {
        let text = try object.string("Verb") ?? ""
        guard let verb = CatalogVerb(rawValue: text) else {
            throw TxnVerbError("unknown \(kind) verb \"\(text)\"")
        }
        return verb
    }

    private static func unsigned(_ raw: JSONValue?, _ field: String) throws -> UInt64 {
        switch raw {
        case nil, .null?: return 0
        case .number(let number)? where number >= 0 && number == number.rounded() && number < 1.8e19:
            return UInt64(number)
        default: throw TxnParseError("\(field): expected an unsigned integer")
        }
    }
}

/// The body of a `/v1/txn` cannot be read: 400 `Failed to parse body: <reason>`.
struct TxnParseError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// An operation names a verb Consul does not have: a per-operation error (409).
struct TxnVerbError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Why an operation failed (its position, and Consul's words); the transaction changed nothing.
struct TxnFailure: Error, Sendable {
    var errors: [(index: Int, what: String)]

    init(_ index: Int, _ what: String) {
        self.errors = [(index, what)]
    }

    init(errors: [(index: Int, what: String)]) {
        self.errors = errors
    }

    var json: JSONValue {
        .object([
            "Results": .null,
            "Errors": .array(
                self.errors.map { .object(["OpIndex": .number(Double($0.index)), "What": .string($0.what)]) }
            ),
        ])
    }
}
