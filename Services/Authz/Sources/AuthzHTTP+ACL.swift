import Foundation
import Hummingbird
import Logging
import MeshCore
import MeshRPC
import MeshServer

extension AuthzHTTP {
    func addACLRoutes(to v1: RouterGroup<BasicRequestContext>) {
        v1.put("acl/bootstrap") { _, _ in
            try ConsulHTTP.json(try await self.bootstrap())
        }
        v1.get("acl/token/self") { request, _ in
            try await self.tokenSelf(request)
        }
        v1.put("acl/token") { request, _ in
            try await self.createToken(request)
        }
        v1.get("acl/token/:id") { request, context in
            let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing token AccessorID")
            let caller = try await self.caller(request)
            try caller.require(caller.authorizer.aclRead, "acl:read")
            guard let token = try await self.store.token(accessorID: id.lowercased()) else {
                throw ConsulHTTPError(.forbidden, "token does not exist: ACL not found")
            }
            return try await self.indexed(ACLJSON.token(token))
        }
        v1.put("acl/token/:id") { request, context in
            try await self.updateToken(request, context)
        }
        v1.delete("acl/token/:id") { request, context in
            let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing token AccessorID").lowercased()
            let caller = try await self.caller(request)
            try caller.require(caller.authorizer.aclWrite, "acl:write")
            guard caller.accessorID != id else {
                throw AuthzError.builtin("Deletion of the request's authorization token is not permitted")
            }
            do {
                try await self.store.deleteToken(accessorID: id)
            } catch AuthzError.tokenNotFound {
                throw ConsulHTTPError(.notFound, "Cannot find token to delete")
            }
            self.logger.info(
                "token deleted",
                metadata: [LogKey.accessor: "\(id)", LogKey.by: "\(caller.accessorID)"]
            )
            return try ConsulHTTP.json(true)
        }
        v1.put("acl/token/:id/clone") { request, context in
            try await self.cloneToken(request, context)
        }
        v1.get("acl/tokens") { request, _ in
            try await self.listTokens(request)
        }
        self.addPolicyRoutes(to: v1)
        self.addRoleRoutes(to: v1)
    }

    /// The caller of a request (403 `ACL not found` for an unknown token).
    func caller(_ request: Request) async throws -> ACLCaller {
        try await self.gate.caller(of: request)
    }

    func bootstrap() async throws -> JSONValue {
        let token = try await self.store.bootstrap()
        self.logger.notice("ACL system bootstrapped", metadata: [LogKey.accessor: "\(token.accessorID)"])
        guard case .object(var object) = ACLJSON.token(token) else { return .null }
        object["ID"] = .string(token.secretID ?? "")
        return .object(object)
    }

    func tokenSelf(_ request: Request) async throws -> Response {
        let secret = ConsulHTTP.token(of: request) ?? AuthzMigrations.anonymousSecret
        guard var token = try await self.store.token(secret: secret) else {
            throw ConsulHTTPError(.forbidden, "token does not exist: ACL not found")
        }
        token.secretID = secret
        return try await self.indexed(ACLJSON.token(token))
    }

    func createToken(_ request: Request) async throws -> Response {
        let caller = try await self.caller(request)
        try caller.require(caller.authorizer.aclWrite, "acl:write")
        let input = try ACLInput.token(try await ConsulHTTP.lenientBody(of: request, prefix: "Token"), creating: true)
        let token = try await self.store.createToken(input)
        self.logger.info(
            "token created",
            metadata: [LogKey.accessor: "\(token.accessorID)", LogKey.by: "\(caller.accessorID)"]
        )
        return try ConsulHTTP.json(ACLJSON.token(token))
    }

    func updateToken(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing token AccessorID").lowercased()
        let caller = try await self.caller(request)
        try caller.require(caller.authorizer.aclWrite, "acl:write")
        let body = try await ConsulHTTP.lenientBody(of: request, prefix: "Token")
        let input = try ACLInput.token(body, creating: false)
        if let given = input.accessorID, given != id {
            throw ConsulHTTPError(.badRequest, "Token Accessor ID in URL and payload do not match")
        }
        guard AuthzStore.isUUID(id) else {
            throw AuthzError.field("AccessorID", "AccessorID is not a valid UUID")
        }
        let token = try await self.store.updateToken(accessorID: id, input)
        return try ConsulHTTP.json(ACLJSON.token(token))
    }

    func cloneToken(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing token AccessorID").lowercased()
        let caller = try await self.caller(request)
        try caller.require(caller.authorizer.aclWrite, "acl:write")
        guard let original = try await self.store.token(accessorID: id) else {
            throw ConsulHTTPError(.forbidden, "token does not exist: ACL not found")
        }
        guard original.authMethod.isEmpty else {
            throw AuthzError.builtin("Cannot clone a token created from an auth method")
        }
        var description = original.description
        if request.headers[.contentLength].map({ $0 != "0" }) ?? false {
            description =
                try await ConsulHTTP.lenientBody(of: request, prefix: "Token").string("Description") ?? description
        }
        let clone = try await self.store.createToken(
            TokenInput(
                accessorID: nil,
                secretID: nil,
                description: description,
                policies: original.policies.map { LinkInput(id: $0.id, name: nil) },
                roles: original.roles.map { LinkInput(id: $0.id, name: nil) },
                serviceIdentities: original.serviceIdentities,
                nodeIdentities: original.nodeIdentities,
                local: original.local,
                authMethod: "",
                expirationTime: original.expirationTime
            )
        )
        return try ConsulHTTP.json(ACLJSON.token(clone))
    }

    func listTokens(_ request: Request) async throws -> Response {
        let caller = try await self.caller(request)
        try caller.require(caller.authorizer.aclRead, "acl:read")
        let parameters = request.uri.queryParameters
        let filter = TokenFilter(
            policyID: parameters.get("policy"),
            roleID: parameters.get("role"),
            authMethod: parameters.get("authmethod"),
            serviceName: parameters.get("servicename")
        )
        let given = [filter.policyID, filter.roleID, filter.authMethod, filter.serviceName].compactMap { $0 }
        guard given.count <= 1 else {
            throw ConsulHTTPError(
                .badRequest,
                "can only filter by one of policy, role, serviceName, or methodName at a time"
            )
        }
        let now = Date()
        let tokens = try await self.store.tokens(matching: filter).filter {
            ($0.expirationTime ?? .distantFuture) > now
        }
        return try await self.indexed(.array(tokens.map(ACLJSON.token)))
    }

    func addPolicyRoutes(to v1: RouterGroup<BasicRequestContext>) {
        v1.put("acl/policy") { request, _ in
            let caller = try await self.caller(request)
            try caller.require(caller.authorizer.aclWrite, "acl:write")
            let body = try await ConsulHTTP.lenientBody(of: request, prefix: "Policy")
            if let id = try body.string("ID"), !id.isEmpty {
                throw ConsulHTTPError(.badRequest, "Cannot specify the ID when creating a new policy")
            }
            let policy = try await self.store.createPolicy(try ACLInput.policy(body))
            return try ConsulHTTP.json(ACLJSON.policy(policy))
        }
        v1.get("acl/policy/name/:name") { request, context in
            let name = try ConsulHTTP.pathParameter("name", context, missing: "Missing policy Name")
            let caller = try await self.caller(request)
            try caller.require(caller.authorizer.aclRead, "acl:read")
            guard let policy = try await self.store.policy(name: name) else {
                throw ConsulHTTPError(.notFound, "Requested policy does not exist: ACL not found")
            }
            return try await self.indexed(ACLJSON.policy(policy))
        }
        v1.get("acl/policy/:id") { request, context in
            let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing policy ID")
            let caller = try await self.caller(request)
            try caller.require(caller.authorizer.aclRead, "acl:read")
            guard let policy = try await self.store.policy(id: id.lowercased()) else {
                throw ConsulHTTPError(.notFound, "Requested policy does not exist: ACL not found")
            }
            return try await self.indexed(ACLJSON.policy(policy))
        }
        v1.put("acl/policy/:id") { request, context in
            let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing policy ID").lowercased()
            let caller = try await self.caller(request)
            try caller.require(caller.authorizer.aclWrite, "acl:write")
            let body = try await ConsulHTTP.lenientBody(of: request, prefix: "Policy")
            if let given = try body.string("ID"), !given.isEmpty, given.lowercased() != id {
                throw ConsulHTTPError(.badRequest, "Policy ID in URL and payload do not match")
            }
            let policy = try await self.store.updatePolicy(id: id, try ACLInput.policy(body))
            return try ConsulHTTP.json(ACLJSON.policy(policy))
        }
        v1.delete("acl/policy/:id") { request, context in
            let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing policy ID").lowercased()
            let caller = try await self.caller(request)
            try caller.require(caller.authorizer.aclWrite, "acl:write")
            guard try await self.store.policy(id: id) != nil else {
                throw ConsulHTTPError(.notFound, "Cannot find policy to delete")
            }
            try await self.store.deletePolicy(id: id)
            return try ConsulHTTP.json(true)
        }
        v1.get("acl/policies") { request, _ in
            let caller = try await self.caller(request)
            try caller.require(caller.authorizer.aclRead, "acl:read")
            let policies = try await self.store.policies()
            return try await self.indexed(.array(policies.map { ACLJSON.policy($0, stub: true) }))
        }
    }

    func addRoleRoutes(to v1: RouterGroup<BasicRequestContext>) {
        v1.put("acl/role") { request, _ in
            let caller = try await self.caller(request)
            try caller.require(caller.authorizer.aclWrite, "acl:write")
            let role = try await self.store.createRole(
                try ACLInput.role(try await ConsulHTTP.lenientBody(of: request, prefix: "Role"))
            )
            return try ConsulHTTP.json(ACLJSON.role(role))
        }
        v1.get("acl/role/name/:name") { request, context in
            let name = try ConsulHTTP.pathParameter("name", context, missing: "Missing role Name")
            let caller = try await self.caller(request)
            try caller.require(caller.authorizer.aclRead, "acl:read")
            guard let role = try await self.store.role(name: name) else {
                throw ConsulHTTPError(.notFound, "Requested role does not exist: ACL not found")
            }
            return try await self.indexed(ACLJSON.role(role))
        }
        v1.get("acl/role/:id") { request, context in
            let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing role ID").lowercased()
            let caller = try await self.caller(request)
            try caller.require(caller.authorizer.aclRead, "acl:read")
            guard let role = try await self.store.role(id: id) else {
                throw ConsulHTTPError(.notFound, "Requested role does not exist: ACL not found")
            }
            return try await self.indexed(ACLJSON.role(role))
        }
        v1.put("acl/role/:id") { request, context in
            let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing role ID").lowercased()
            let caller = try await self.caller(request)
            try caller.require(caller.authorizer.aclWrite, "acl:write")
            let body = try await ConsulHTTP.lenientBody(of: request, prefix: "Role")
            if let given = try body.string("ID"), !given.isEmpty, given.lowercased() != id {
                throw ConsulHTTPError(.badRequest, "Role ID in URL and payload do not match")
            }
            let role = try await self.store.updateRole(id: id, try ACLInput.role(body))
            return try ConsulHTTP.json(ACLJSON.role(role))
        }
        v1.delete("acl/role/:id") { request, context in
            let id = try ConsulHTTP.pathParameter("id", context, missing: "Missing role ID").lowercased()
            let caller = try await self.caller(request)
            try caller.require(caller.authorizer.aclWrite, "acl:write")
            guard try await self.store.role(id: id) != nil else {
                throw ConsulHTTPError(.notFound, "Cannot find role to delete")
            }
            try await self.store.deleteRole(id: id)
            return try ConsulHTTP.json(true)
        }
        v1.get("acl/roles") { request, _ in
            let caller = try await self.caller(request)
            try caller.require(caller.authorizer.aclRead, "acl:read")
            var roles = try await self.store.roles()
            if let policy = request.uri.queryParameters.get("policy") {
                roles = roles.filter { $0.policies.contains { $0.id == policy } }
            }
            return try await self.indexed(.array(roles.map(ACLJSON.role)))
        }
    }
}
