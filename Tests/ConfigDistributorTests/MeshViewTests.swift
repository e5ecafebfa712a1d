import Foundation
import MeshProto
import SwiftProtobuf
import Testing

@testable import ConfigDistributor

@Suite("the distributor's view of the mesh")
struct MeshViewTests {
    static func event(_ proxyIDs: [String]) -> Mesh_V1_WatchEvent {
        .with { event in
            event.instances = proxyIDs.map { id in
                .with {
                    $0.service.id = id
                    $0.service.kind = "connect-proxy"
                    $0.service.proxy.destinationServiceName = "api"
                }
            }
        }
    }

    @Test("a service no proxy depends on any more is released: its watch ends and its sidecars are forgotten")
    func unneededWatchesAreReleased() {
        let view = MeshView(datacenter: "dc1")
        // A proxy's upstream names are its own choice: what is watched must shrink again.
        let first = view.subscribe(services: ["web", "api", "made-up-1"])
        #expect(view.watchedCount == 3)
        let second = view.subscribe(services: ["web", "api"])
        view.apply(Self.event(["api-1-sidecar-proxy"]), service: "api")
        view.update(first.id, services: ["web", "made-up-2"])
        #expect(view.watchedCount == 3, "web, api (still the second's), made-up-2")
        view.unsubscribe(second.id)
        #expect(view.watchedCount == 2, "web, made-up-2")
        // A late event of the released watch is not kept.
        view.apply(Self.event(["api-1-sidecar-proxy"]), service: "api")
        view.unsubscribe(first.id)
        #expect(view.watchedCount == 0)
        _ = view.subscribe(services: ["api"])
        #expect(view.watchedCount == 1)
    }
}
