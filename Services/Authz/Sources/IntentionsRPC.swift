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
            try caller.check(caller.authorizer.intentionRead(name), "intentions:read", on: name)
        }
        try await RPCCancellation.scope {
            var sent: UInt64 = 0
            var sentState: (rules: [Mesh_V1_IntentionRule], defaultAllow: Bool)?
            while !Task.isCancelled {
                let mark = self.store.feed.mark([AuthzStore.intentionsTopic])
                let index = max(try await self.store.stableIndex(), 1)
                let set = try await self.cache.current()
                let selected =
                    request.destination.isEmpty ? set.intentions : set.matches(destination: request.destination)
                let rules = selected.map(Mesh_V1_IntentionRule.init)
                let defaultAllow = self.gate.defaultPolicy == .allow
                // Sent when the index moved or the content did: the stable index can lag a write
                // that the set already shows, and waiting for the next change would lose this one.
                if index > sent || sentState.map({ $0.rules != rules || $0.defaultAllow != defaultAllow }) ?? true {
                    try await response.write(
                        .with {
                            $0.index = max(index, sent)
                            $0.defaultAllow = defaultAllow
                            $0.intentions = rules
                        }
                    )
                    sent = max(index, sent)
                    sentState = (rules, defaultAllow)
                }
                _ = await self.store.feed.wait(beyond: mark, until: .now + .seconds(300))
            }
        }
    }
}
