import GRPCCore
import Logging
import MeshCore
import MeshProto
import MeshServer
import MeshStore
import ServiceLifecycle
import SwiftProtobuf

/// `mesh.v1.Intentions`: the intentions stream the config-distributor follows. Reading needs
/// `intentions:read` on the destination asked for (or on every destination for all of them).
struct IntentionsRPC: Mesh_V1_Intentions.SimpleServiceProtocol {
    let store: AuthzStore
    let cache: IntentionsCache
    let gate: ACLGate
    let logger: Logger

    func watch(
        request: Mesh_V1_WatchIntentionsRequest,
        response: RPCWriter<Mesh_V1_IntentionsSnapshot>,
        context: ServerContext
    ) async throws {
        if let caller = ACLCaller.current {
            // All intentions need read on every destination (the wildcard); one service's, on it.
            let name = request.destination.isEmpty ? "*" : request.destination
            try caller.check(caller.authorizer.intentionRead(name), "intentions:read", on: name)
        }
        try await cancelWhenGracefulShutdown {
            var sent: UInt64 = 0
            while !Task.isCancelled {
                let mark = self.store.feed.mark([AuthzStore.intentionsTopic])
                let index = max(try await self.store.stableIndex(), 1)
                let set = try await self.cache.current()
                let selected =
                    request.destination.isEmpty ? set.intentions : set.matches(destination: request.destination)
                if index > sent {
                    try await response.write(
                        .with {
                            $0.index = index
                            $0.defaultAllow = self.gate.defaultPolicy == .allow
                            $0.intentions = selected.map(Mesh_V1_IntentionRule.init)
                        }
                    )
                    sent = index
                }
                _ = await self.store.feed.wait(beyond: mark, until: .now + .seconds(300))
            }
        }
    }
}
