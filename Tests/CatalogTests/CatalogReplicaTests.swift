import Catalog
import Foundation
import GRPCCore
import MeshProto
import MeshTesting
import NIOHTTP1
import SwiftProtobuf
import Testing

@Suite("Two replicas on one database")
struct CatalogReplicaTests {
    @Test("a registration through replica 1 wakes a blocking query and a gRPC watch held on replica 2")
    func crossReplicaWakeups() async throws {
        let database = try await TestDatabase.fresh()
        try await withReplica(database: database) { first in
            try await withReplica(database: database) { second in
                let writer = API(first.http)
                let reader = API(second.http)
                try await writer.register(instance(node: "n1", service: "web", id: "w1"))
                let index = try await reader.get("/v1/health/service/web").index!
                try await withCatalogClient(second.grpc) { catalog in
                    try await withThrowingTaskGroup(of: Int.self) { group in
                        group.addTask {
                            let answer = try await reader.get("/v1/health/service/web?index=\(index)&wait=30s")
                            return answer.array.count
                        }
                        group.addTask {
                            try await catalog.watch(
                                .with {
                                    $0.service = "web"
                                    $0.minIndex = index
                                }
                            ) { response in
                                for try await event in response.messages { return event.instances.count }
                                return 0
                            }
                        }
                        try await waitForWaiters(second, atLeast: 2)
                        try await writer.register(instance(node: "n2", service: "web", id: "w2"))
                        var counts: [Int] = []
                        for try await count in group { counts.append(count) }
                        #expect(counts == [2, 2])
                    }
                }
            }
        }
    }

    @Test("when the leader replica stops, the other takes over TTL reaping")
    func leaderFailover() async throws {
        let database = try await TestDatabase.fresh()
        try await withReplica(database: database) { survivor in
            let api = API(survivor.http)
            // A second replica starts, and leads if it wins; either way one of them reaps.
            try await withReplica(database: database) { other in
                _ = other
                try await api.register(
                    instance(
                        node: "n1",
                        service: "web",
                        id: "w1",
                        checks: [
                            [
                                "CheckID": "t1", "Name": "t", "ServiceID": "w1", "Status": "passing",
                                "Definition": ["TTL": "300ms"],
                            ]
                        ]
                    )
                )
                var answer = try await api.get("/v1/health/checks/web")
                answer = try await api.get("/v1/health/checks/web?index=\(answer.index!)&wait=20s")
                #expect(answer.array.first?["Status"] as? String == "critical")
            }
            // The other replica is gone (its session closed); a new TTL expiry must still be reaped.
            try await api.register(
                instance(
                    node: "n2",
                    service: "api",
                    id: "a1",
                    checks: [
                        [
                            "CheckID": "t2", "Name": "t", "ServiceID": "a1", "Status": "passing",
                            "Definition": ["TTL": "300ms"],
                        ]
                    ]
                )
            )
            var answer = try await api.get("/v1/health/checks/api")
            #expect(answer.array.first?["Status"] as? String == "passing")
            answer = try await api.get("/v1/health/checks/api?index=\(answer.index!)&wait=20s")
            #expect(answer.array.first?["Status"] as? String == "critical")
            let leader = try await api.get("/v1/status/leader").json as? String
            let peers = try await api.get("/v1/status/peers").json as? [String]
            #expect(peers?.count == 1)
            #expect(leader == peers?.first)
        }
    }
}
