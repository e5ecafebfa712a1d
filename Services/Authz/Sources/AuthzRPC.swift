import Foundation
import GRPCCore
import Logging
import MeshCore
import MeshProto
import MeshRPC
import MeshServer
import MeshStore
import ServiceLifecycle
import SwiftProtobuf

/// `mesh.v1.ACL`: token resolution for the other services, and the change stream their caches follow.
struct AuthzRPC: Mesh_V1_ACL.SimpleServiceProtocol {
    let store: AuthzStore
    let defaultPolicy: ACLDefault
    let logger: Logger

    func resolveToken(
        request: Mesh_V1_ResolveTokenRequest,
        context: ServerContext
    ) async throws -> Mesh_V1_ResolvedToken {
        let secret = request.secretID.isEmpty ? AuthzMigrations.anonymousSecret : request.secretID
        guard let token = try await self.store.resolve(secret: secret) else {
            throw RPCError(code: .notFound, message: "ACL not found")
        }
        return .with {
            $0.accessorID = token.accessorID
            $0.management = token.isManagement
            $0.rules = token.rules
            $0.serviceIdentities = token.serviceIdentities
            $0.nodeIdentities = token.nodeIdentities
            $0.expirationUnix = token.expirationTime.map { Int64($0.timeIntervalSince1970.rounded(.up)) } ?? 0
            $0.defaultPolicy = self.defaultPolicy.rawValue
        }
    }

    func watchChanges(
        request: Mesh_V1_WatchACLRequest,
        response: RPCWriter<Mesh_V1_ACLChange>,
        context: ServerContext
    ) async throws {
        // Streams end when the server shuts down, so replicas' caches reconnect elsewhere at once.
        let changes = self.store.feed.changes(of: [AuthzStore.aclTopic])
        try await RPCCancellation.scope {
            try await response.write(.with { $0.defaultPolicy = self.defaultPolicy.rawValue })
            for await change in changes {
                try await response.write(
                    .with {
                        $0.index = change.index
                        $0.defaultPolicy = self.defaultPolicy.rawValue
                    }
                )
            }
        }
    }
}

/// Resolves secrets from authz-svc's own store (its gate needs no network hop).
struct StoreTokenSource: TokenSource {
    let store: AuthzStore

    func resolve(secret: String) async throws -> ResolvedToken? {
        try await self.store.resolve(secret: secret.isEmpty ? AuthzMigrations.anonymousSecret : secret)
    }
}
