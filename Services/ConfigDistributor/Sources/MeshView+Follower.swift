import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import MeshProto
import ServiceLifecycle

extension MeshView {
    /// Keeps the view following catalog-svc, authz-svc and ca-svc until graceful shutdown.
    struct Follower: Service {
        typealias Transport = HTTP2ClientTransport.Posix
        let view: MeshView
        let catalog: Mesh_V1_Catalog.Client<Transport>
        let intentions: Mesh_V1_Intentions.Client<Transport>
        let ca: Mesh_V1_CA.Client<Transport>
        let metadata: Metadata
        let logger: Logger

        func run() async {
            await cancelWhenGracefulShutdown {
                await self.view.follow(
                    catalog: self.catalog,
                    intentions: self.intentions,
                    ca: self.ca,
                    metadata: self.metadata,
                    logger: self.logger
                )
            }
        }
    }
}
