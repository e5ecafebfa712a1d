import Foundation
import GRPCCore
import Logging
import MeshCore
import MeshProto
import MeshServer
import Metrics
import Synchronization

/// One proxy's stream: the hello, then a snapshot whenever the proxy's config really changes, and
/// the proxy's ACK/NACKs. A NACKed version is not sent again; the next different version is.
struct ProxySession {
    let view: MeshView
    let enforceACLs: Bool
    let metrics: DistributorMetrics
    /// How long the first message (the hello) may take; past it the stream ends.
    var helloTimeout: Duration = .seconds(5)
    let logger: Logger

    func run(
        messages: RPCAsyncSequence<Mesh_V1_ProxyStreamRequest, any Error>,
        writer: RPCWriter<Mesh_V1_ProxySnapshotPush>,
        caller: ACLCaller?
    ) async throws {
        let hello = Rendezvous<Greeting>()
        let nacked = NackedVersion()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { hello.fulfill(.closed) }
                try await self.readAcks(messages, hello: hello, nacked: nacked)
            }
            group.addTask {
                guard let hello = try await self.awaitHello(hello) else { return }
                try self.authorize(hello, caller: caller)
                try await self.push(for: hello, writer: writer, nacked: nacked)
            }
            // Either side ending ends the stream: the proxy closed, or the push failed.
            try await group.next()
            group.cancelAll()
        }
    }

    private func readAcks(
        _ messages: RPCAsyncSequence<Mesh_V1_ProxyStreamRequest, any Error>,
        hello: Rendezvous<Greeting>,
        nacked: NackedVersion
    ) async throws {
        var greeted = false
        for try await message in messages {
            switch message.kind {
            case .hello(let first):
                guard !greeted else { throw RPCError(code: .invalidArgument, message: "ProxyHello sent twice") }
                guard !first.proxyID.isEmpty else {
                    throw RPCError(code: .invalidArgument, message: "proxy_id is required")
                }
                guard !first.service.isEmpty else {
                    throw RPCError(code: .invalidArgument, message: "service is required")
                }
                greeted = true
                hello.fulfill(.hello(first))
            case .ack(let ack):
                guard greeted else {
                    throw RPCError(code: .invalidArgument, message: "the first message must be a ProxyHello")
                }
                if ack.error.isEmpty {
                    self.metrics.acks.increment()
                } else {
                    self.metrics.nacks.increment()
                    nacked.set(ack.version)
                    self.logger.warning(
                        "proxy refused a config version",
                        metadata: [LogKey.version: "\(ack.version)", LogKey.error: "\(ack.error)"]
                    )
                }
            case nil:
                throw RPCError(code: .invalidArgument, message: "empty ProxyStreamRequest")
            }
        }
    }

    /// How a stream's first message went; the first outcome wins.
    enum Greeting: Sendable {
        case hello(Mesh_V1_ProxyHello)
        /// The proxy closed its side before greeting.
        case closed
        case timedOut
    }

    /// The hello; nil when the proxy closed first; a `deadlineExceeded` refusal when it has not
    /// come within `helloTimeout` (a stream that never speaks is not kept).
    private func awaitHello(_ hello: Rendezvous<Greeting>) async throws -> Mesh_V1_ProxyHello? {
        let timeout = self.helloTimeout
        let outcome = await withTaskGroup(of: Void.self) { timer in
            timer.addTask {
                // Cancelled once the outcome is known; a late `.timedOut` is then ignored.
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                hello.fulfill(.timedOut)
            }
            let outcome = await hello.value
            timer.cancelAll()
            return outcome
        }
        switch outcome {
        case .hello(let greeting): return greeting
        case .closed: return nil
        case .timedOut: throw RPCError(code: .deadlineExceeded, message: "no ProxyHello within \(timeout)")
        }
    }

    /// A proxy may only ask for the config of a service its token may write (Consul's rule for xDS).
    private func authorize(_ hello: Mesh_V1_ProxyHello, caller: ACLCaller?) throws {
        guard self.enforceACLs else { return }
        guard let caller else {
            throw RPCError(code: .permissionDenied, message: "Permission denied: no ACL caller for this call")
        }
        try caller.require(caller.authorizer.serviceWrite(hello.service), "service:write", on: hello.service)
    }

    private func push(
        for hello: Mesh_V1_ProxyHello,
        writer: RPCWriter<Mesh_V1_ProxySnapshotPush>,
        nacked: NackedVersion
    ) async throws {
        let (id, changes) = self.view.subscribe(services: [hello.service])
        self.metrics.streams.record(self.view.subscriberCount)
        defer {
            self.view.unsubscribe(id)
            self.metrics.streams.record(self.view.subscriberCount)
        }
        let logger = self.logger.with(["mesh.proxy": "\(hello.proxyID)", "mesh.service": "\(hello.service)"])
        logger.debug("proxy stream open")
        var lastSent = hello.currentVersion
        var pushes = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for await _ in changes {
            let (snapshot, upstreams): (ProxySnapshot, Set<String>)
            switch self.view.snapshot(proxyID: hello.proxyID, service: hello.service) {
            case .failure(let pending):
                self.view.update(id, services: pending.dependencies.union([hello.service]))
                if pending.reason == .notRegistered {
                    logger.debug("proxy not registered in the catalog yet")
                }
                continue
            case .success(let built):
                (snapshot, upstreams) = built
            }
            self.view.update(id, services: upstreams.union([hello.service]))
            let version = snapshot.version
            guard version != lastSent, version != nacked.get() else { continue }
            pushes += 1
            var push = Mesh_V1_ProxySnapshotPush()
            push.version = version
            push.nonce = "\(id)-\(pushes)"
            push.snapshotJson = try encoder.encode(snapshot)
            try await writer.write(push)
            self.metrics.pushes.increment()
            lastSent = version
            logger.debug("config pushed", metadata: [LogKey.version: "\(version)"])
        }
    }
}

extension Logger {
    /// A copy with `metadata` added.
    fileprivate func with(_ metadata: Logger.Metadata) -> Logger {
        var copy = self
        for (key, value) in metadata { copy[metadataKey: key] = value }
        return copy
    }
}

/// The last version the proxy refused (set by the ACK reader, read by the pusher).
final class NackedVersion: Sendable {
    private let version = Mutex<String?>(nil)

    func set(_ version: String) { self.version.withLock { $0 = version } }

    func get() -> String? { self.version.withLock { $0 } }
}
