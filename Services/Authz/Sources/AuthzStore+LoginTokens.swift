import Foundation
import Logging
import MeshStore
import PostgresNIO

/// Tokens made by auth methods (iam-auth-svc's logins), and their cleanup.
extension AuthzStore {
    /// Creates a login token. Role and policy names that do not exist are dropped, as Consul
    /// drops binding-rule results that name a missing role; a token left with nothing at all is
    /// refused (`nil`), since it would grant only what the anonymous token grants.
    func createLoginToken(_ request: LoginTokenInput) async throws -> ACLToken? {
        let policies = Set(try await self.policyNames().values)
        let roles = Set(try await self.roleNames().values)
        let policyLinks = request.policyNames.filter(policies.contains).map { LinkInput(id: nil, name: $0) }
        let roleLinks = request.roleNames.filter(roles.contains).map { LinkInput(id: nil, name: $0) }
        guard
            !(policyLinks.isEmpty && roleLinks.isEmpty && request.serviceIdentities.isEmpty
                && request.nodeIdentities.isEmpty)
        else {
            return nil
        }
        return try await self.createToken(
            TokenInput(
                accessorID: nil,
                secretID: nil,
                description: request.description,
                policies: policyLinks,
                roles: roleLinks,
                serviceIdentities: request.serviceIdentities,
                nodeIdentities: request.nodeIdentities,
                local: request.local,
                authMethod: request.authMethod,
                expirationTime: request.ttl.map { Date().addingTimeInterval(Double($0.components.seconds)) }
            )
        )
    }

    /// Logout: deletes the live token with this secret if an auth method made it.
    func logout(secret: String) async throws -> String {
        guard let token = try await self.token(secret: secret) else { throw AuthzError.tokenNotFound }
        guard !token.authMethod.isEmpty else { throw AuthzError.notLoginToken }
        try await self.deleteToken(accessorID: token.accessorID)
        return token.accessorID
    }

    /// Deletes tokens of `authMethod`: the given accessors, or all of them when `accessors` is nil.
    /// Tokens of other methods, and tokens made by hand, are never touched.
    func deleteLoginTokens(authMethod: String, accessors: [String]?) async throws -> Int {
        guard !authMethod.isEmpty else { return 0 }
        return try await self.write(Self.aclTopic) { connection, _ in
            let rows: PostgresRowSequence
            if let accessors {
                rows = try await connection.query(
                    """
                    DELETE FROM authz.tokens WHERE auth_method = \(authMethod) AND accessor_id = ANY(\(accessors)) \
                    RETURNING accessor_id
                    """,
                    logger: self.logger
                )
            } else {
                rows = try await connection.query(
                    "DELETE FROM authz.tokens WHERE auth_method = \(authMethod) RETURNING accessor_id",
                    logger: self.logger
                )
            }
            var count = 0
            for try await _ in rows.decode(String.self) { count += 1 }
            return count
        }
    }
}

/// What a login asks for, after the auth method's binding rules were applied.
struct LoginTokenInput: Sendable {
    var authMethod: String
    var description: String
    var serviceIdentities: [ACLServiceIdentity]
    var nodeIdentities: [ACLNodeIdentity]
    var roleNames: [String]
    var policyNames: [String]
    var ttl: Duration?
    var local: Bool
}
