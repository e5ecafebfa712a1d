import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import MeshNet
import MeshProto
import SwiftProtobuf

/// iam-auth-svc's calls to authz-svc's `mesh.v1.LoginTokens`, made with the service's own
/// token (which needs `acl:write`), except logout, which carries only the secret being ended.
struct LoginTokensClient: Sendable {
    let client: Mesh_V1_LoginTokens.Client<HTTP2ClientTransport.Posix>
    let serviceToken: String
    var timeout: Duration = .seconds(10)

    init(grpc: GRPCClient<HTTP2ClientTransport.Posix>, serviceToken: String) {
        self.client = Mesh_V1_LoginTokens.Client(wrapping: grpc)
        self.serviceToken = serviceToken
    }

    private var metadata: Metadata {
        var metadata = Metadata()
        if !self.serviceToken.isEmpty { metadata.addToken(self.serviceToken) }
        return metadata
    }

    private var options: CallOptions {
        var options = CallOptions.defaults
        options.timeout = self.timeout
        return options
    }

    func create(_ request: Mesh_V1_CreateLoginTokenRequest) async throws -> Mesh_V1_LoginTokenReply {
        try await self.client.create(request, metadata: self.metadata, options: self.options)
    }

    func logout(secret: String) async throws -> Mesh_V1_LogoutReply {
        try await self.client.logout(.with { $0.secretID = secret }, options: self.options)
    }

    func list(authMethod: String) async throws -> [Mesh_V1_LoginTokenSummary] {
        try await self.client.list(
            .with { $0.authMethod = authMethod },
            metadata: self.metadata,
            options: self.options
        ).tokens
    }

    /// Deletes the given tokens of `authMethod`, or every one of them when `accessors` is nil.
    func delete(authMethod: String, accessors: [String]?) async throws -> Int {
        let reply = try await self.client.delete(
            .with {
                $0.authMethod = authMethod
                $0.accessorIds = accessors ?? []
                $0.all = accessors == nil
            },
            metadata: self.metadata,
            options: self.options
        )
        return Int(reply.deleted)
    }
}
