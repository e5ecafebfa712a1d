public import Hummingbird
public import MeshCore

extension ConsulHTTP {
    /// The request's `?filter=` (Consul's go-bexpr language) over elements of `schema`, nil
    /// when absent; a filter that does not parse, or names a selector `schema` has not, is 400
    /// `Failed to create boolean expression evaluator: <reason>`.
    public static func filter(of request: Request, schema: FilterSchema) throws -> FilterExpression? {
        guard let text = Self.formValue("filter", of: request), !text.isEmpty else { return nil }
        do {
            return try FilterExpression(text, schema: schema)
        } catch {
            throw ConsulHTTPError(.badRequest, "Failed to create boolean expression evaluator: \(error)")
        }
    }

    /// The request's `?node-meta=key:value` pairs (repeatable; every one must match).
    public static func nodeMeta(of request: Request) -> [(key: String, value: String)] {
        request.uri.queryParameters.getAll("node-meta").map { pair in
            let parts = pair.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
    }

    /// `answer` with the elements (of a list) or the values (of a map, as the agent's listings
    /// are) that `filter` and `nodeMeta` leave: node metadata is read from `NodeMeta` (catalog
    /// services), `Node.Meta` (health entries) or `Meta` (nodes).
    public static func filtered(
        _ answer: JSONValue,
        by filter: FilterExpression?,
        nodeMeta: [(key: String, value: String)] = []
    ) -> JSONValue {
        guard filter != nil || !nodeMeta.isEmpty else { return answer }
        func keeps(_ element: JSONValue) -> Bool {
            if let filter, !filter.matches(element) { return false }
            guard !nodeMeta.isEmpty else { return true }
            guard case .object(let fields) = element else { return false }
            var meta = fields["NodeMeta"] ?? fields["Meta"]
            if case .object(let node)? = fields["Node"] { meta = node["Meta"] }
            guard case .object(let pairs)? = meta else { return false }
            return nodeMeta.allSatisfy { pairs[$0.key] == .string($0.value) }
        }
        switch answer {
        case .array(let items): return .array(items.filter(keeps))
        case .object(let members): return .object(members.filter { keeps($0.value) })
        default: return answer
        }
    }
}
