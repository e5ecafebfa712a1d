import Foundation
import MeshLocal
import MeshRPC
import NIOCore
import NIOPosix

/// A network namespace for one demo server, as an ECS task has (root only): the app, its agent
/// and its proxy run inside it, the app on the namespace's own loopback (unreachable from the
/// host), the proxy's public listener on the namespace's end of a veth pair, which is what the
/// catalog shows and what other proxies dial. The control plane stays on the host's loopback;
/// forwarders on the host's end of the pair carry the agent's and proxy's calls to it.
struct DemoNamespace: Sendable {
    let name: String
    let hostInterface: String
    let hostAddress: String
    let address: String

    /// Whether namespaces can be used: root and `ip` present.
    static var available: Bool {
        getuid() == 0 && Self.ipTool != nil
    }

    static var ipTool: String? {
        ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// Namespace `index` of this meshctl process: `10.251.<pid % 250>.<4·index+1>/30` on the host
    /// side, `+2` inside (addresses of this private link only).
    init(index: Int) {
        let pid = Int(getpid())
        self.name = "mesh-demo-\(pid)-\(index)"
        self.hostInterface = "md\(pid % 100_000)h\(index)"
        let subnet = "10.251.\(pid % 250)"
        self.hostAddress = "\(subnet).\(4 * index + 1)"
        self.address = "\(subnet).\(4 * index + 2)"
    }

    private var peerInterface: String { self.hostInterface.replacingOccurrences(of: "h", with: "n") }

    /// Creates the namespace and its link; on failure removes what was made.
    func create() throws {
        do {
            try Self.ip(["netns", "add", self.name])
            try Self.ip(["link", "add", self.hostInterface, "type", "veth", "peer", "name", self.peerInterface])
            try Self.ip(["link", "set", self.peerInterface, "netns", self.name])
            try Self.ip(["addr", "add", "\(self.hostAddress)/30", "dev", self.hostInterface])
            try Self.ip(["link", "set", self.hostInterface, "up"])
            try Self.ip(["-n", self.name, "addr", "add", "\(self.address)/30", "dev", self.peerInterface])
            try Self.ip(["-n", self.name, "link", "set", self.peerInterface, "up"])
            try Self.ip(["-n", self.name, "link", "set", "lo", "up"])
        } catch {
            self.delete()
            throw error
        }
    }

    /// Deletes the namespace (its end of the pair goes with it, and so the host's end).
    func delete() {
        try? Self.ip(["netns", "delete", self.name])
        try? Self.ip(["link", "delete", self.hostInterface])
    }

    /// `executable arguments` run inside the namespace (`ip netns exec` execs it: the PID is the program's).
    func command(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        (Self.ipTool ?? "ip", ["netns", "exec", self.name, executable] + arguments)
    }

    private static func ip(_ arguments: [String]) throws {
        guard let tool = Self.ipTool else { throw CLIError("demo: the ip tool is missing") }
        try Spawned.run(tool, arguments)
    }
}

/// Forwards TCP connections accepted on `listen` to `target` (both this host), byte for byte:
/// how processes in a demo namespace reach the control plane on the host's loopback.
enum LoopbackForwarder {
    static func start(listen: HostPort, target: HostPort) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: target.host, port: target.port)
                    .flatMap { outbound in
                        let (a, b) = ForwardHalf.pair()
                        do {
                            try inbound.pipeline.syncOperations.addHandler(a)
                            try outbound.pipeline.syncOperations.addHandler(b)
                        } catch {
                            outbound.close(promise: nil)
                            return inbound.eventLoop.makeFailedFuture(error)
                        }
                        inbound.read()
                        return inbound.eventLoop.makeSucceededVoidFuture()
                    }
            }
            .bind(host: listen.host, port: listen.port).get()
    }
}

/// One side of a forwarded connection (both on one event loop): reads go to the other side;
/// a close on one side closes the other after its writes.
private final class ForwardHalf: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    private var partner: ForwardHalf?
    private var context: ChannelHandlerContext?

    static func pair() -> (ForwardHalf, ForwardHalf) {
        let a = ForwardHalf()
        let b = ForwardHalf()
        a.partner = b
        b.partner = a
        return (a, b)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        context.read()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.partner?.context?.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.partner?.context?.flush()
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let other = self.partner?.context {
            other.writeAndFlush(NIOAny(other.channel.allocator.buffer(capacity: 0))).assumeIsolated()
                .whenComplete { _ in other.close(promise: nil) }
        }
        self.partner = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
