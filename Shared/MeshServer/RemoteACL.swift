import Foundation
public import GRPCCore
public import GRPCNIOTransportHTTP2Posix
public import Logging
public import MeshCore
import MeshNet
import MeshProto
public import MeshRPC
public import ServiceLifecycle
import SwiftProtobuf
import Synchronization

/// Resolves tokens through authz-svc's gRPC API (`mesh.v1.ACL/ResolveToken`).
public struct RemoteTokenSource: TokenSource {
    let client: Mesh_V1_ACL.Client<HTTP2ClientTransport.Posix>
    let timeout: Duration

    /// - Parameter timeout: how long one resolution may take before the caller gets "unavailable".
    public init(client: GRPCClient<HTTP2ClientTransport.Posix>, timeout: Duration = .seconds(5)) {
        self.client = Mesh_V1_ACL.Client(wrapping: client)
        self.timeout = timeout
    }

    public func resolve(secret: String) async throws -> ResolvedToken? {
        var options = CallOptions.defaults
        options.timeout = self.timeout
        do {
            let reply = try await self.client.resolveToken(.with { $0.secretID = secret }, options: options)
            return ResolvedToken(
                accessorID: reply.accessorID,
                isManagement: reply.management,
                rules: reply.rules,
                serviceIdentities: reply.serviceIdentities,
                nodeIdentities: reply.nodeIdentities,
                expirationTime: reply.expirationUnix == 0
                    ? nil : Date(timeIntervalSince1970: TimeInterval(reply.expirationUnix))
            )
        } catch let error as RPCError where error.code == .notFound {
            return nil
        }
    }
}

/// The link from a service to authz-svc: a gRPC client, the gate it feeds, and the watch that
/// drops the gate's cache on every ACL change (reconnecting with backoff when the stream ends).
///
/// Run it as a service beside the servers. `isSynced` is true while the watch stream is open;
/// until the first change message arrives the cache stays empty, so nothing stale is used.
public final class RemoteACL: Service, Sendable {
    public let gate: ACLGate
    /// The connection to authz-svc, for services that call its other gRPC APIs too (it runs with this service).
    public let grpc: GRPCClient<HTTP2ClientTransport.Posix>
    let logger: Logger
    /// Fulfilled when the watch first delivers the ACL state.
    public let synced = Rendezvous<Bool>()

    /// - Parameter resolveTimeout: the deadline of one token resolution (tests on a loaded machine give more).
    public init(
        authzAddress: ServiceAddress,
        defaultPolicy: ACLDefault,
        tls: TLSFiles? = nil,
        resolveTimeout: Duration = .seconds(5),
        logger: Logger
    ) throws {
        self.grpc = GRPCClient(
            transport: try .to(authzAddress, service: .authz, tls: tls)
        )
        self.gate = ACLGate(
            source: RemoteTokenSource(client: self.grpc, timeout: resolveTimeout),
            defaultPolicy: defaultPolicy
        )
        self.logger = logger
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.grpc.runConnections() }
            group.addTask {
                // The watch stream never ends by itself: cancel it at shutdown, then close the client.
                await cancelWhenGracefulShutdown { await self.followChanges() }
                self.grpc.beginGracefulShutdown()
            }
        }
    }

    private func followChanges() async {
        let acl = Mesh_V1_ACL.Client(wrapping: self.grpc)
        var backoff: Duration = .milliseconds(50)
        while !Task.isCancelled {
            let delivered = Atomic<Bool>(false)
            do {
                try await acl.watchChanges(.init()) { response in
                    self.logger.debug("ACL watch open")
                    for try await change in response.messages {
                        self.logger.debug("ACL change", metadata: [LogKey.index: "\(change.index)"])
                        self.gate.invalidate(defaultPolicy: ACLDefault(rawValue: change.defaultPolicy))
                        self.synced.fulfill(true)
                        delivered.store(true, ordering: .relaxed)
                    }
                }
            } catch {
                if Task.isCancelled { return }
                self.logger.warning(
                    "ACL watch lost; retrying",
                    metadata: [LogKey.error: "\(error)", LogKey.backoff: "\(backoff)"]
                )
            }
            self.logger.debug("ACL watch ended")
            if delivered.load(ordering: .relaxed) { backoff = .milliseconds(50) }
            // The stream ended: whatever changed meanwhile is unknown, so start over.
            self.gate.invalidate()
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }
}
