public import GRPCCore
import GRPCNIOTransportHTTP2Posix
public import Hummingbird
import HummingbirdTLS
public import Logging
public import MeshCore
public import MeshNet
public import MeshRPC
import NIOCore
public import ServiceLifecycle

/// Where and how a server listens: what every server of the mesh is configured with, with or
/// without a database.
public struct ServerSettings: Sendable {
    /// Who may open a gRPC connection to this server.
    public enum GRPCClients: Sendable {
        /// Control-plane services only: mutual TLS, the client's certificate must name one of them.
        case controlPlane
        /// Workloads (proxies and agents): server-authenticated TLS, callers identified by token.
        case workloads
    }

    /// The executable's name, used in logs and as the REST server's name.
    public var name: String
    public var grpcAddress: HostPort
    public var httpAddress: HostPort
    /// How long in-flight RPCs may run after shutdown begins.
    public var drainTimeout: Duration
    /// TLS for both listeners; plaintext when nil (loopback only).
    public var tls: TLSFiles?
    /// Connection caps, handshake and idle deadlines, gRPC keepalive.
    public var limits: ServerLimits
    public var grpcClients: GRPCClients

    public init(
        name: String,
        grpcAddress: HostPort,
        httpAddress: HostPort,
        drainTimeout: Duration = .seconds(10),
        tls: TLSFiles? = nil,
        limits: ServerLimits = .default,
        grpcClients: GRPCClients = .controlPlane
    ) {
        self.name = name
        self.grpcAddress = grpcAddress
        self.httpAddress = httpAddress
        self.drainTimeout = drainTimeout
        self.tls = tls
        self.limits = limits
        self.grpcClients = grpcClients
    }
}

/// What a server serves.
public struct ServerParts: Sendable {
    /// The gRPC services to serve.
    public var grpcServices: [any RegistrableRPCService]
    /// Interceptors for every gRPC call (the ACL interceptor, when ACLs are on).
    public var interceptors: [any ServerInterceptor]
    /// Adds the service's REST routes (the host adds `/metrics`, `/ready` and `/healthz`).
    public var routes: @Sendable (Router<BasicRequestContext>) -> Void
    /// Services the servers depend on (clients, caches, the change feed): started before the
    /// servers and stopped after they have drained.
    public var services: [any Service]
    /// What `/ready` reports once the listeners are bound.
    public var isReady: @Sendable () -> Bool
    /// Awaited before the host reports itself ready (first sync of a cache, say).
    public var readyWhen: @Sendable () async -> Void

    public init(
        grpcServices: [any RegistrableRPCService],
        interceptors: [any ServerInterceptor] = [],
        routes: @escaping @Sendable (Router<BasicRequestContext>) -> Void = { _ in },
        services: [any Service] = [],
        isReady: @escaping @Sendable () -> Bool = { true },
        readyWhen: @escaping @Sendable () async -> Void = {}
    ) {
        self.grpcServices = grpcServices
        self.interceptors = interceptors
        self.routes = routes
        self.services = services
        self.isReady = isReady
        self.readyWhen = readyWhen
    }
}

/// The server every mesh service runs, with or without a database: the gRPC server (TLS,
/// limits, keepalive, peer names, draining), the REST server (TLS, limits, metrics and NUL
/// refusal middleware, `/metrics`, `/ready`, `/healthz`), and the lifecycle around them.
///
/// `serve(_:)` runs until graceful shutdown: the parts' services first, then the servers, so on
/// shutdown the servers drain before what they depend on stops.
public final class ServerHost: Sendable {
    public let settings: ServerSettings
    let logger: Logger
    /// Bootstrapped when the host is made, before the service makes its parts: a metric made
    /// before swift-metrics is bootstrapped goes nowhere, and would never reach `/metrics`.
    let registry = MeshMetrics.registry()
    /// The bound REST address.
    public let httpAddress = Rendezvous<HostPort>()
    /// The bound gRPC address.
    public let grpcAddress = Rendezvous<HostPort>()
    /// True once both servers are bound and the parts are ready; false if the host stopped before.
    public let ready = Rendezvous<Bool>()

    public init(settings: ServerSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// Serves `parts` until graceful shutdown.
    public func serve(_ parts: ServerParts) async throws {
        defer { self.ready.fulfill(false) }
        let connections = ConnectionCounter(limit: self.settings.limits.listener.maxConnections, tracking: true)
        let grpcServer = GRPCServer(
            transport: HTTP2ServerTransport.Posix(
                address: .ipv4(host: self.settings.grpcAddress.host, port: self.settings.grpcAddress.port),
                transportSecurity: self.grpcSecurity,
                config: .mesh(
                    self.settings.limits.grpc,
                    limits: self.settings.limits.listener,
                    counter: connections,
                    acceptedPeers: self.settings.grpcClients == .controlPlane ? ControlPlaneName.all : nil
                )
            ),
            services: parts.grpcServices,
            interceptors: parts.interceptors
        )
        let router = Router()
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: NULRefusalMiddleware())
        router.addOperationalRoutes(registry: self.registry, isReady: parts.isReady)
        parts.routes(router)
        router.answerWrongMethods()

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = parts.services.map { .init(service: $0) }
        services.append(
            .init(
                service: GRPCServerService(
                    server: grpcServer,
                    drainTimeout: self.settings.drainTimeout,
                    closeRemaining: connections.closeAll
                )
            )
        )
        services.append(.init(service: try self.application(router: router)))
        services.append(
            .init(service: self.announcer(grpcServer: grpcServer, parts: parts), successTerminationBehavior: .ignore)
        )
        try await ServiceGroup(configuration: .init(services: services, logger: self.logger)).run()
    }

    private var grpcSecurity: HTTP2ServerTransport.Posix.TransportSecurity {
        guard let tls = self.settings.tls else { return .plaintext }
        switch self.settings.grpcClients {
        case .controlPlane: return tls.grpcServerSecurity
        case .workloads: return tls.grpcServerSecurityForWorkloads
        }
    }

    private func application(router: Router<BasicRequestContext>) throws -> some Service {
        let httpAddress = self.httpAddress
        let logger = self.logger
        let name = self.settings.name
        return Application(
            router: router,
            server: try self.settings.tls.restServer(limits: self.settings.limits),
            configuration: .mesh(
                host: self.settings.httpAddress.host,
                port: self.settings.httpAddress.port,
                serverName: name,
                limits: self.settings.limits,
                logger: self.logger
            ),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                let bound = HostPort(host: channel.localAddress?.ipAddress ?? "127.0.0.1", port: port)
                logger.info("\(name) http listening", metadata: [LogKey.address: "\(bound)"])
                httpAddress.fulfill(bound)
            },
            logger: self.logger
        )
    }

    private func announcer(grpcServer: GRPCServer<HTTP2ServerTransport.Posix>, parts: ServerParts) -> some Service {
        let grpcAddress = self.grpcAddress
        let httpAddress = self.httpAddress
        let ready = self.ready
        let logger = self.logger
        let name = self.settings.name
        return OneShotService {
            if let address = try await grpcServer.listeningAddress?.ipv4 {
                let bound = HostPort(host: address.host, port: address.port)
                logger.info("\(name) grpc listening", metadata: [LogKey.address: "\(bound)"])
                grpcAddress.fulfill(bound)
            }
            _ = await httpAddress.value
            await parts.readyWhen()
            ready.fulfill(true)
        }
    }
}

/// Runs a one-shot task (announcing bound addresses) as a lifecycle service.
public struct OneShotService: Service {
    let body: @Sendable () async throws -> Void

    public init(_ body: @escaping @Sendable () async throws -> Void) {
        self.body = body
    }

    public func run() async throws {
        try await self.body()
    }
}
