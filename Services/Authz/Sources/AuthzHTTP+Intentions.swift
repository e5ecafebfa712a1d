import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MeshCore
import MeshRPC
import MeshServer
import MeshStore

/// `/v1/connect/intentions`: Consul's intention API. Changing an intention needs
/// `intentions:write` on its destination; reading one needs `intentions:read` on it; `/check`
/// needs `service:read` on the destination, as in Consul.
extension AuthzHTTP {

    func addIntentionRoutes(to v1: RouterGroup<BasicRequestContext>) {
        v1.get("connect/intentions") { request, _ in
            try await self.listIntentions(request)
        }
        v1.post("connect/intentions") { request, _ in
            try await self.createIntention(request)
        }
        v1.get("connect/intentions/exact") { request, _ in
            let (source, destination) = try Self.pair(request)
            let caller = try await self.caller(request)
            try caller.require(
                caller.authorizer.intentionRead(destination.name),
                "intentions:read",
                on: destination.name
            )
            let set = try await self.intentions.current()
            guard let found = set.intentions.first(where: { Self.same($0, source, destination) }) else {
                throw ConsulHTTPError(.notFound, "Intention not found")
            }
            return try ConsulHTTP.indexed(found, index: try await self.store.stableIndex())
        }
        v1.put("connect/intentions/exact") { request, _ in
            try await self.upsertExact(request)
        }
        v1.delete("connect/intentions/exact") { request, _ in
            let (source, destination) = try Self.pair(request)
            let caller = try await self.caller(request)
            try caller.require(
                caller.authorizer.intentionWrite(destination.name),
                "intentions:write",
                on: destination.name
            )
            try await self.store.deleteIntention(
                sourceNamespace: source.namespace,
                source: source.name,
                destinationNamespace: destination.namespace,
                destination: destination.name
            )
            self.logger.info(
                "intention deleted",
                metadata: [LogKey.intention: "\(source) => \(destination)", LogKey.by: "\(caller.accessorID)"]
            )
            return try ConsulHTTP.json(true)
        }
        v1.get("connect/intentions/check") { request, _ in
            try await self.check(request)
        }
        v1.get("connect/intentions/match") { request, _ in
            try await self.match(request)
        }
        v1.get("connect/intentions/:id") { request, context in
            let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing intention ID")
            // The token first: a bogus one is refused before anything is looked up.
            let caller = try await self.caller(request)
            let set = try await self.intentions.current()
            guard let found = set.intentions.first(where: { $0.id == id }) else {
                throw ConsulHTTPError(.notFound, "Intention not found")
            }
            try caller.require(
                caller.authorizer.intentionRead(found.destinationName),
                "intentions:read",
                on: found.destinationName
            )
            return try ConsulHTTP.indexed(found, index: try await self.store.stableIndex())
        }
        v1.delete("connect/intentions/:id") { request, context in
            let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing intention ID")
            let caller = try await self.caller(request)
            let set = try await self.intentions.current()
            guard let found = set.intentions.first(where: { $0.id == id }) else {
                throw ConsulHTTPError(.notFound, "Cannot delete non-existent intention: '\(id)'")
            }
            try caller.require(
                caller.authorizer.intentionWrite(found.destinationName),
                "intentions:write",
                on: found.destinationName
            )
            _ = try await self.store.deleteIntention(id: id)
            return try ConsulHTTP.json(true)
        }
    }

    /// `source` and `destination` query parameters, each `name` or `namespace/name`.
    static func pair(_ request: Request) throws -> (IntentionServiceName, IntentionServiceName) {
        (try Self.target(request, "source"), try Self.target(request, "destination"))
    }

    static func target(_ request: Request, _ parameter: String) throws -> IntentionServiceName {
        guard let text = request.uri.queryParameters.get(parameter), !text.isEmpty else {
            throw ConsulHTTPError(.badRequest, "required query parameter '\(parameter)' not set")
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return IntentionServiceName(text)
        case 2 where !parts[0].isEmpty && !parts[1].isEmpty:
            return IntentionServiceName(String(parts[1]), namespace: String(parts[0]))
        default:
            throw ConsulHTTPError(.badRequest, "invalid \(parameter) \"\(text)\": expected name or namespace/name")
        }
    }

    static func same(
        _ intention: Intention,
        _ source: IntentionServiceName,
        _ destination: IntentionServiceName
    ) -> Bool {
        intention.sourceName == source.name && intention.sourceNamespace == source.namespace
            && intention.destinationName == destination.name && intention.destinationNamespace == destination.namespace
    }

    /// Decodes an intention body (Consul's field names, any case); 400 naming the problem.
    static func intention(of request: Request) async throws -> Intention {
        let value = try await ConsulHTTP.jsonBody(of: request)
        do {
            return try JSONDecoder().decode(Intention.self, from: try JSONEncoder().encode(value))
        } catch {
            throw ConsulHTTPError(.badRequest, "Request decode failed: \(error)")
        }
    }

    /// `GET /v1/connect/intentions`, a blocking query as Consul's (`?index=`, `?wait=`): it
    /// waits for the intentions to change (the web UI keeps its list live this way).
    func listIntentions(_ request: Request) async throws -> Response {
        let caller = try await self.caller(request)
        let blocking = try ConsulHTTP.blockingQuery(of: request)
        let result = try await self.store.feed.blockingRead([AuthzStore.intentionsTopic], blocking) { _ in
            // The index first, then the rows from the database (not the cache, which catches up
            // with a write only once it is published): every write the index covers has finished,
            // so the rows show it. An index read after the rows could cover a write they miss,
            // and a client waiting past that index would never see it.
            let index = try await self.store.stableIndex()
            return Indexed(IntentionSet(try await self.store.intentions()).intentions, index: index)
        }
        let all = result.value
        let visible = all.filter {
            caller.authorizer.intentionRead($0.destinationName) || caller.authorizer.intentionRead($0.sourceName)
        }
        .sorted {
            ($0.precedence, $1.sourceName, $1.destinationName) > ($1.precedence, $0.sourceName, $0.destinationName)
        }
        var response = try ConsulHTTP.indexed(visible, index: result.index)
        if visible.count < all.count { response.headers[ConsulHTTP.filteredByACLsHeader] = "true" }
        return response
    }

    func createIntention(_ request: Request) async throws -> Response {
        let caller = try await self.caller(request)
        var intention = try await Self.intention(of: request)
        intention.id = ""
        intention = try IntentionValidator.validate(intention)
        try caller.require(
            caller.authorizer.intentionWrite(intention.destinationName),
            "intentions:write",
            on: intention.destinationName
        )
        let id = try await self.store.createIntention(intention)
        self.logger.info(
            "intention created",
            metadata: [
                LogKey.intention: "\(intention.sourceName) => \(intention.destinationName)",
                LogKey.by: "\(caller.accessorID)",
            ]
        )
        return try ConsulHTTP.json(["ID": id])
    }

    func upsertExact(_ request: Request) async throws -> Response {
        let (source, destination) = try Self.pair(request)
        let caller = try await self.caller(request)
        try caller.require(caller.authorizer.intentionWrite(destination.name), "intentions:write", on: destination.name)
        var intention = try await Self.intention(of: request)
        intention.id = ""
        intention.sourceName = source.name
        intention.sourceNamespace = source.namespace
        intention.destinationName = destination.name
        intention.destinationNamespace = destination.namespace
        intention = try IntentionValidator.validate(intention)
        try await self.store.upsertIntention(intention)
        self.logger.info(
            "intention written",
            metadata: [
                LogKey.intention: "\(source) => \(destination)", LogKey.action: "\(intention.action)",
                LogKey.by: "\(caller.accessorID)",
            ]
        )
        return try ConsulHTTP.json(true)
    }

    func check(_ request: Request) async throws -> Response {
        let (source, destination) = try Self.pair(request)
        if let type = request.uri.queryParameters.get("source-type"), !type.isEmpty, type != "consul" {
            throw ConsulHTTPError(.badRequest, "unsupported SourceType: \"\(type)\"")
        }
        let caller = try await self.caller(request)
        try caller.require(caller.authorizer.serviceRead(destination.name), "service:read", on: destination.name)
        let decision = try await self.intentions.current().decide(
            source: source,
            destination: destination,
            defaultAllow: self.gate.defaultPolicy == .allow
        )
        return try ConsulHTTP.json(["Allowed": decision.allowed])
    }

    func match(_ request: Request) async throws -> Response {
        let parameters = request.uri.queryParameters
        guard let by = parameters.get("by"), !by.isEmpty else {
            throw ConsulHTTPError(.badRequest, "required query parameter 'by' not set")
        }
        guard by == "source" || by == "destination" else {
            throw ConsulHTTPError(.badRequest, "'by' parameter must be one of 'source' or 'destination'")
        }
        let names = parameters.getAll("name").map { String($0) }
        guard !names.isEmpty else { throw ConsulHTTPError(.badRequest, "required query parameter 'name' not set") }
        let caller = try await self.caller(request)
        for name in names {
            try caller.require(caller.authorizer.intentionRead(name), "intentions:read", on: name)
        }
        let set = try await self.intentions.current()
        var result: [String: [Intention]] = [:]
        for name in names {
            result[name] = by == "source" ? set.matches(source: name) : set.matches(destination: name)
        }
        return try ConsulHTTP.indexed(result, index: try await self.store.stableIndex())
    }
}
