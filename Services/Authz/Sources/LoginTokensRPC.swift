import Foundation
import GRPCCore
import Logging
import MeshCore
import MeshProto
import MeshServer
import SwiftProtobuf

/// `mesh.v1.LoginTokens`: the tokens iam-auth-svc makes at login and removes at logout or when
/// their ECS task has stopped. Creating and deleting need `acl:write`, listing `acl:read`; a
/// logout needs nothing but the secret being logged out.
struct LoginTokensRPC: Mesh_V1_LoginTokens.SimpleServiceProtocol {
    let store: AuthzStore
    let logger: Logger

    func create(
        request: Mesh_V1_CreateLoginTokenRequest,
        context: ServerContext
    ) async throws -> Mesh_V1_LoginTokenReply {
        try Self.demand(\.aclWrite, "acl:write")
        guard !request.authMethod.isEmpty else {
            throw RPCError(code: .invalidArgument, message: "auth_method is required")
        }
        let input = LoginTokenInput(
            authMethod: request.authMethod,
            description: request.description_p,
            serviceIdentities: request.serviceIdentities.map {
                ACLServiceIdentity(serviceName: $0.serviceName, datacenters: $0.datacenters)
            },
            nodeIdentities: request.nodeIdentities.map {
                ACLNodeIdentity(nodeName: $0.nodeName, datacenter: $0.datacenter)
            },
            roleNames: request.roleNames,
            policyNames: request.policyNames,
            ttl: request.ttlSeconds > 0 ? .seconds(request.ttlSeconds) : nil,
            local: request.local
        )
        guard let token = try await self.store.createLoginToken(input) else {
            throw RPCError(code: .permissionDenied, message: "Permission denied: the login grants nothing")
        }
        self.logger.info(
            "login token created",
            metadata: [LogKey.accessor: "\(token.accessorID)", LogKey.authMethod: "\(token.authMethod)"]
        )
        return .with {
            $0.token = Mesh_V1_ACLToken(token)
            $0.accessorID = token.accessorID
        }
    }

    func logout(request: Mesh_V1_LogoutRequest, context: ServerContext) async throws -> Mesh_V1_LogoutReply {
        // An unknown secret is notFound, one no auth method made permissionDenied (AuthzError: ServiceError).
        let accessor = try await self.store.logout(secret: request.secretID)
        self.logger.info("logged out", metadata: [LogKey.accessor: "\(accessor)"])
        return .with { $0.accessorID = accessor }
    }

    func list(
        request: Mesh_V1_ListLoginTokensRequest,
        context: ServerContext
    ) async throws
        -> Mesh_V1_ListLoginTokensReply
    {
        try Self.demand(\.aclRead, "acl:read")
        let tokens = try await self.store.tokens(
            matching: TokenFilter(policyID: nil, roleID: nil, authMethod: request.authMethod, serviceName: nil)
        )
        return .with { reply in
            reply.tokens = tokens.filter { !$0.authMethod.isEmpty }.map { token in
                .with {
                    $0.accessorID = token.accessorID
                    $0.authMethod = token.authMethod
                    $0.description_p = token.description
                    $0.createUnix = Int64(token.createTime.timeIntervalSince1970)
                }
            }
        }
    }

    func delete(
        request: Mesh_V1_DeleteLoginTokensRequest,
        context: ServerContext
    ) async throws -> Mesh_V1_DeleteLoginTokensReply {
        try Self.demand(\.aclWrite, "acl:write")
        guard !request.authMethod.isEmpty else {
            throw RPCError(code: .invalidArgument, message: "auth_method is required")
        }
        let deleted = try await self.store.deleteLoginTokens(
            authMethod: request.authMethod,
            accessors: request.all ? nil : request.accessorIds
        )
        if deleted > 0 {
            self.logger.info(
                "login tokens deleted",
                metadata: [LogKey.count: "\(deleted)", LogKey.authMethod: "\(request.authMethod)"]
            )
        }
        return .with { $0.deleted = UInt32(deleted) }
    }

    /// Refuses the call unless its caller (from `x-consul-token`) has the permission.
    private static func demand(_ permission: KeyPath<ACLAuthorizer, Bool>, _ name: String) throws {
        guard let caller = ACLCaller.current else {
            throw RPCError(code: .permissionDenied, message: "Permission denied")
        }
        try caller.require(caller.authorizer[keyPath: permission], name)
    }
}
