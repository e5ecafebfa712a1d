import Foundation
import GRPCCore
import HTTPTypes
import Hummingbird
import Logging
import MeshCore
import MeshProto
import MeshRPC
import MeshServer
import PostgresNIO
import SwiftProtobuf

/// iam-auth-svc's Consul-compatible REST API: `/v1/acl/auth-method(s)`, `/v1/acl/binding-rule(s)`,
/// `/v1/acl/login` and `/v1/acl/logout`. Reads need `acl:read`, writes `acl:write`; login and
/// logout need no token of their own.
struct IAMAuthHTTP: Sendable {
    let store: IAMAuthStore
    let login: LoginService
    let tokens: LoginTokensClient
    let gate: ACLGate
    let logger: Logger

    func addRoutes(to router: Router<BasicRequestContext>) {
        let v1 = router.group("v1")
        v1.get("acl/auth-methods") { request, _ in
            try await self.demand(request, write: false)
            return try await self.indexed(.array(try await self.store.methods().map { $0.json(stub: true) }))
        }
        v1.put("acl/auth-method") { request, _ in
            try await self.putMethod(request, pathName: nil)
        }
        v1.get("acl/auth-method/:name") { request, context in
            let name = try ConsulHTTP.pathParameter("name", context, missing: "Missing auth method name")
            try await self.demand(request, write: false)
            guard let method = try await self.store.method(named: name) else {
                throw ConsulHTTPError(.notFound, "Requested auth method does not exist: ACL not found")
            }
            return try await self.indexed(method.json())
        }
        v1.put("acl/auth-method/:name") { request, context in
            try await self.putMethod(
                request,
                pathName: try ConsulHTTP.pathParameter("name", context, missing: "Missing auth method name")
            )
        }
        v1.delete("acl/auth-method/:name") { request, context in
            try await self.deleteMethod(request, context)
        }
        self.addRuleRoutes(to: v1)
        v1.post("acl/login") { request, _ in
            try await self.performLogin(request)
        }
        v1.post("acl/logout") { request, _ in
            try await self.performLogout(request)
        }
    }

    private func addRuleRoutes(to v1: RouterGroup<BasicRequestContext>) {
        v1.get("acl/binding-rules") { request, _ in
            try await self.demand(request, write: false)
            let method = request.uri.queryParameters.get("authmethod")
            let rules = try await self.store.rules(
                where: method.map { "lower(auth_method) = lower(\($0))" }
            )
            return try await self.indexed(.array(rules.map(\.json)))
        }
        v1.put("acl/binding-rule") { request, _ in
            try await self.putRule(request, pathID: nil)
        }
        v1.get("acl/binding-rule/:id") { request, context in
            let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing binding rule ID")
            try await self.demand(request, write: false)
            guard IAMAuthInput.isUUID(id), let rule = try await self.store.rule(id: id.lowercased()) else {
                throw ConsulHTTPError(.notFound, "Requested binding rule does not exist: ACL not found")
            }
            return try await self.indexed(rule.json)
        }
        v1.put("acl/binding-rule/:id") { request, context in
            try await self.putRule(
                request,
                pathID: try ConsulHTTP.pathParameter("id", context, missing: "Missing binding rule ID")
            )
        }
        v1.delete("acl/binding-rule/:id") { request, context in
            let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing binding rule ID")
            let caller = try await self.demand(request, write: true)
            guard IAMAuthInput.isUUID(id), try await self.store.deleteRule(id: id.lowercased()) else {
                throw ConsulHTTPError(.notFound, "Cannot find binding rule to delete")
            }
            self.logger.info("binding rule deleted", metadata: [LogKey.id: "\(id)", LogKey.by: "\(caller)"])
            return try ConsulHTTP.json(true)
        }
    }

    private func putMethod(_ request: Request, pathName: String?) async throws -> Response {
        let caller = try await self.demand(request, write: true)
        let object = try await ConsulHTTP.lenientBody(of: request, prefix: "AuthMethod")
        let name = try pathName ?? object.string("Name") ?? ""
        let existing = name.isEmpty ? nil : try await self.store.method(named: name)
        let method = try IAMAuthInput.method(object, pathName: pathName, existing: existing)
        let stored = try await self.store.upsert(method)
        self.logger.info(
            existing == nil ? "auth method created" : "auth method updated",
            metadata: [LogKey.authMethod: "\(stored.name)", LogKey.by: "\(caller)"]
        )
        return try ConsulHTTP.json(stored.json())
    }

    /// Deletes a method, its binding rules, and every token it made (as Consul does).
    private func deleteMethod(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let name = try ConsulHTTP.pathParameter("name", context, missing: "Missing auth method name")
        let caller = try await self.demand(request, write: true)
        guard let method = try await self.store.method(named: name),
            try await self.store.deleteMethod(named: method.name)
        else {
            throw ConsulHTTPError(.notFound, "Cannot find auth method to delete")
        }
        let deleted = try await self.tokens.delete(authMethod: method.name, accessors: nil)
        self.logger.info(
            "auth method deleted",
            metadata: [LogKey.authMethod: "\(method.name)", LogKey.tokens: "\(deleted)", LogKey.by: "\(caller)"]
        )
        return try ConsulHTTP.json(true)
    }

    private func putRule(_ request: Request, pathID: String?) async throws -> Response {
        let caller = try await self.demand(request, write: true)
        let object = try await ConsulHTTP.lenientBody(of: request, prefix: "BindingRule")
        var existing: BindingRule?
        if let pathID {
            guard IAMAuthInput.isUUID(pathID) else {
                throw ConsulHTTPError(.badRequest, "Binding Rule ID invalid UUID")
            }
            guard let found = try await self.store.rule(id: pathID.lowercased()) else {
                throw ConsulHTTPError(.badRequest, "cannot find binding rule \(pathID)")
            }
            existing = found
        }
        let rule = try await IAMAuthInput.rule(object, pathID: pathID, existing: existing) { name in
            try await self.store.method(named: name)
        }
        let stored: BindingRule
        do {
            stored = try await self.store.put(rule, replace: existing != nil)
        } catch IAMAuthStoreError.methodNotFound(let name) {
            throw ConsulHTTPError(.badRequest, "cannot find auth method with name \"\(name)\"")
        }
        self.logger.info(
            existing == nil ? "binding rule created" : "binding rule updated",
            metadata: [LogKey.id: "\(stored.id)", LogKey.authMethod: "\(stored.authMethod)", LogKey.by: "\(caller)"]
        )
        return try ConsulHTTP.json(stored.json)
    }

    private func performLogin(_ request: Request) async throws -> Response {
        let value = try await ConsulHTTP.jsonBody(of: request)
        let object: LenientObject
        let fields: (String, String, [String: String])
        do {
            object = try LenientObject(value)
            fields = (
                try object.string("AuthMethod") ?? "", try object.string("BearerToken") ?? "",
                try object.stringMap("Meta") ?? [:]
            )
        } catch {
            throw ConsulHTTPError(.badRequest, "Failed to decode request body: \(error.field): \(error.reason)")
        }
        if let unknown = object.keys.subtracting(["authmethod", "bearertoken", "meta"]).sorted().first {
            throw ConsulHTTPError(.badRequest, "Failed to decode request body: json: unknown field \"\(unknown)\"")
        }
        do {
            let json = try await self.login.login(method: fields.0, bearerToken: fields.1, meta: fields.2)
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: json)))
        } catch .unknownMethod(let name) {
            throw ConsulHTTPError(.forbidden, "ACL not found: auth method \"\(name)\" not found")
        } catch .refused {
            throw ConsulHTTPError(.forbidden, "Permission denied")
        } catch .unavailable {
            throw ConsulHTTPError(.internalServerError, "login failed: the ACL service is unavailable")
        } catch .rateLimited {
            // Consul's answer when its request rate limit refuses a call.
            throw ConsulHTTPError(.tooManyRequests, "rate limit exceeded, try again later")
        }
    }

    private func performLogout(_ request: Request) async throws -> Response {
        guard let secret = ConsulHTTP.token(of: request), !secret.isEmpty else {
            throw ConsulHTTPError(.unauthorized, "Supplied token does not exist")
        }
        do {
            let reply = try await self.tokens.logout(secret: secret)
            self.logger.info("logout", metadata: [LogKey.accessor: "\(reply.accessorID)"])
            return try ConsulHTTP.json(true)
        } catch let error as RPCError where error.code == .notFound {
            throw ConsulHTTPError(.forbidden, "ACL not found")
        } catch let error as RPCError where error.code == .permissionDenied {
            throw ConsulHTTPError(.forbidden, error.message)
        }
    }

    /// Checks the caller may read (`acl:read`) or write (`acl:write`); returns its accessor for the log.
    @discardableResult
    private func demand(_ request: Request, write: Bool) async throws -> String {
        let caller = try await self.gate.caller(of: request)
        if write {
            try caller.require(caller.authorizer.aclWrite, "acl:write")
        } else {
            try caller.require(caller.authorizer.aclRead, "acl:read")
        }
        return caller.accessorID
    }

    private func indexed(_ value: JSONValue) async throws -> Response {
        try ConsulHTTP.indexed(value, index: try await self.store.stableIndex())
    }
}
