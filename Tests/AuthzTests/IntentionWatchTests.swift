import ControlPlaneHarness
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import MeshCore
import MeshProto
import MeshRPC
import MeshServer
import MeshTesting
import SwiftProtobuf
import Testing

@Suite("intentions watch (gRPC)")
struct IntentionWatchTests {
    @Test("the stream sends the destination's intentions, then a new snapshot after a change; anonymous is refused")
    func watch() async throws {
        try await withAuthz { authz in
            try await withGRPCClient(
                transport: try HTTP2ClientTransport.Posix(
                    target: .ipv4(address: authz.grpc.host, port: authz.grpc.port),
                    transportSecurity: .plaintext
                )
            ) { client in
                let intentions = Mesh_V1_Intentions.Client(wrapping: client)
                var metadata: Metadata = [:]
                metadata.addString(managementSecret, forKey: "x-consul-token")
                let snapshots = try await intentions.watch(
                    .with { $0.destination = "db" },
                    metadata: metadata
                ) { response in
                    var received: [Mesh_V1_IntentionsSnapshot] = []
                    for try await snapshot in response.messages {
                        received.append(snapshot)
                        if received.count == 1 {
                            #expect(snapshot.intentions.isEmpty)
                            #expect(!snapshot.defaultAllow)
                            let put = try await authz.admin.put(
                                "/v1/connect/intentions/exact?source=web&destination=db",
                                json: ["Permissions": [["Action": "deny", "HTTP": ["PathPrefix": "/admin"]]]]
                            )
                            #expect(put.status == 200)
                            #expect(
                                try await authz.admin.put(
                                    "/v1/connect/intentions/exact?source=web&destination=cache",
                                    json: ["Action": "deny"]
                                ).status == 200
                            )
                        } else if snapshot.intentions.count == 1 {
                            return received
                        }
                    }
                    return received
                }
                let last = try #require(snapshots.last)
                #expect(last.index > snapshots[0].index)
                let rule = try #require(last.intentions.first)
                let intention = Intention(rule)
                #expect(intention.sourceName == "web" && intention.destinationName == "db")
                #expect(intention.permissions.first?.http?.pathPrefix == "/admin")
                #expect(intention.precedence == 9)

                do {
                    try await intentions.watch(.with { $0.destination = "db" }) { response in
                        for try await _ in response.messages {}
                    }
                    Issue.record("an anonymous watch was accepted")
                } catch let error as RPCError {
                    #expect(error.code == .permissionDenied)
                }
            }
        }
    }
}
