import GRPCCore
import Logging
import MeshCore
import MeshProto
import MeshRPC
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
            try caller.require(caller.authorizer.intentionRead(name), "intentions:read", on: name)
        }
        let snapshots = self.store.feed.watch([AuthzStore.intentionsTopic], from: 0) { _ in
            let index = try await self.store.stableIndex()
            let set = try await self.cache.current()
            let selected = request.destination.isEmpty ? set.intentions : set.matches(destination: request.destination)
            let snapshot = Mesh_V1_IntentionsSnapshot.with {
                $0.defaultAllow = self.gate.defaultPolicy == .allow
                $0.intentions = selected.map(Mesh_V1_IntentionRule.init)
            }
            return Indexed(snapshot, index: index)
        }
        try await RPCCancellation.scope {
            for try await current in snapshots {
                var snapshot = current.value
                snapshot.index = current.index
                try await response.write(snapshot)
            }
        }
    }
}
