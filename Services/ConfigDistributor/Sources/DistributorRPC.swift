import GRPCCore
import Logging
import MeshCore
import MeshProto
import MeshServer
import Metrics
import ServiceLifecycle

/// `mesh.v1.ConfigDistributor`: proxies' config streams and the CSR relay.
struct DistributorRPC<CATransport: ClientTransport>: Mesh_V1_ConfigDistributor.ServiceProtocol {
    let view: MeshView
    let ca: Mesh_V1_CA.Client<CATransport>
    let enforceACLs: Bool
    let metrics: DistributorMetrics
    let logger: Logger

    func stream(
        request: StreamingServerRequest<Mesh_V1_ProxyStreamRequest>,
        context: ServerContext
    ) async throws -> StreamingServerResponse<Mesh_V1_ProxySnapshotPush> {
        // A caller that may write no service at all (the anonymous token under default deny)
        // could never be given a config: refused before anything is kept for it.
        if self.enforceACLs, let caller = ACLCaller.current, !caller.authorizer.mayWriteSomeService {
            self.metrics.refusedStreams.increment()
            throw RPCError(
                code: .permissionDenied,
                message: ACLDenial.permissionDenied(
                    accessorID: caller.accessorID,
                    permission: "service:write",
                    resource: nil
                ).description
            )
        }
        let session = ProxySession(
            view: self.view,
            enforceACLs: self.enforceACLs,
            metrics: self.metrics,
            logger: self.logger
        )
        let logger = self.logger
        return StreamingServerResponse { writer in
            let caller = ACLCaller.current
            // At shutdown the stream ends, so the proxy reconnects to another replica at once.
            do {
                try await cancelWhenGracefulShutdown {
                    try await session.run(messages: request.messages, writer: writer, caller: caller)
                }
            } catch let error as RPCError {
                throw error
            } catch {
                // Not a status of ours: say what it was rather than an empty `unknown`.
                logger.warning("proxy stream failed", metadata: [LogKey.error: "\(error)"])
                throw RPCError(code: .internalError, message: "config stream failed: \(error)")
            }
            return [:]
        }
    }

    func signLeaf(
        request: ServerRequest<Mesh_V1_SignLeafRequest>,
        context: ServerContext
    ) async throws -> ServerResponse<Mesh_V1_SignResponse> {
        var metadata = Metadata()
        for token in request.metadata[stringValues: ACLInterceptor.tokenKey] {
            metadata.addString(token, forKey: ACLInterceptor.tokenKey)
        }
        var sign = Mesh_V1_SignRequest()
        sign.csrPem = request.message.csrPem
        // ca-svc checks the proxy's own token (service:write on the CSR's service) and answers.
        let response: Mesh_V1_SignResponse
        do {
            response = try await self.ca.sign(sign, metadata: metadata)
        } catch let error as RPCError {
            // ca-svc's status goes back as it is, but not its trailers (re-sent, they break the stream).
            throw RPCError(code: error.code, message: error.message)
        }
        self.metrics.leafRelays.increment()
        return ServerResponse(message: response)
    }
}
