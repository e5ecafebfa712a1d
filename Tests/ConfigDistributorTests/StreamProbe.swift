import ConfigDistributor
import ControlPlaneHarness
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import MeshCore
import MeshProto
import MeshRPC
import MeshTesting

/// A stand-in for a proxy on a real config stream: sends the hello, reads pushes, answers them.
struct StreamProbe {
    var pushes: AsyncThrowingStream<Mesh_V1_ProxySnapshotPush, any Error>.AsyncIterator
    let send: AsyncStream<Mesh_V1_ProxyStreamRequest>.Continuation

    /// The next pushed version and its snapshot.
    mutating func next() async throws -> (Mesh_V1_ProxySnapshotPush, ProxySnapshot) {
        guard let push = try await self.pushes.next() else { throw TestFailure("the stream ended") }
        return (push, try JSONDecoder().decode(ProxySnapshot.self, from: push.snapshotJson))
    }

    func ack(_ push: Mesh_V1_ProxySnapshotPush, error: String = "") {
        var message = Mesh_V1_ProxyStreamRequest()
        message.ack.version = push.version
        message.ack.nonce = push.nonce
        message.ack.error = error
        self.send.yield(message)
    }
}

func metadata(token: String?) -> Metadata {
    var metadata = Metadata()
    if let token { metadata.addString(token, forKey: "x-consul-token") }
    return metadata
}

/// Opens a config stream to the distributor at `address` as `proxyID` of `service` (sending the
/// hello first unless `sendHello` is false).
func withStream<T: Sendable>(
    _ address: HostPort,
    token: String? = managementSecret,
    proxyID: String,
    service: String,
    currentVersion: String = "",
    sendHello: Bool = true,
    _ body: (inout StreamProbe) async throws -> T
) async throws -> T {
    try await withGRPCClient(
        transport: try HTTP2ClientTransport.Posix(
            target: .ipv4(address: address.host, port: address.port),
            transportSecurity: .plaintext
        )
    ) { client in
        let distributor = Mesh_V1_ConfigDistributor.Client(wrapping: client)
        let (outgoing, send) = AsyncStream.makeStream(of: Mesh_V1_ProxyStreamRequest.self)
        let (pushes, deliver) = AsyncThrowingStream.makeStream(of: Mesh_V1_ProxySnapshotPush.self)
        var hello = Mesh_V1_ProxyStreamRequest()
        hello.hello.proxyID = proxyID
        hello.hello.service = service
        hello.hello.currentVersion = currentVersion
        if sendHello { send.yield(hello) }
        let call = Task {
            do {
                try await distributor.stream(
                    metadata: metadata(token: token),
                    requestProducer: { writer in
                        for await message in outgoing { try await writer.write(message) }
                    },
                    onResponse: { response in
                        for try await push in response.messages { deliver.yield(push) }
                    }
                )
                deliver.finish()
            } catch {
                deliver.finish(throwing: error)
            }
        }
        defer {
            send.finish()
            call.cancel()
        }
        var probe = StreamProbe(pushes: pushes.makeAsyncIterator(), send: send)
        return try await body(&probe)
    }
}
