import GRPCCore
import GRPCNIOTransportHTTP2Posix
public import MeshCore
import MeshNet
import MeshProto
import MeshRPC

/// Consul's `GRPC` check: `grpc.health.v1.Health/Check` on `host:port[/service]` passes when the
/// answer is `SERVING`; any other status, an error or no answer within the timeout is critical.
/// Plaintext unless `GRPCUseTLS`; with TLS the server's certificate is checked against the
/// system's roots (and its name against `TLSServerName`, else the host) unless `TLSSkipVerify`.
public struct GRPCHealthCheck: Sendable, Equatable {
    public var target: String
    public var useTLS: Bool
    public var skipVerify: Bool
    public var serverName: String?

    public init(target: String, useTLS: Bool = false, skipVerify: Bool = false, serverName: String? = nil) {
        self.target = target
        self.useTLS = useTLS
        self.skipVerify = skipVerify
        self.serverName = serverName
    }

    /// The address and the service name of `target` (nil when the address is not `host:port`).
    var parsed: (address: HostPort, service: String)? {
        let parts = self.target.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, let address = HostPort(parsing: String(first)) else { return nil }
        return (address, parts.count > 1 ? String(parts[1]) : "")
    }

    /// Whether the target is `host:port[/service]`.
    public var isValid: Bool { self.parsed != nil }

    /// Runs the check once: Consul's outputs (`gRPC check <target>: success`, or the reason).
    public func run(timeout: Duration) async -> (CheckStatus, String) {
        guard let (address, service) = self.parsed else {
            return (.critical, "gRPC check \(self.target): the target is not host:port[/service]")
        }
        do {
            let transport = try HTTP2ClientTransport.Posix(
                target: GRPCTarget.of([(address.host, address.port)]),
                transportSecurity: self.security,
                config: .defaults { config in
                    if let name = self.serverName, !name.isEmpty { config.http2.authority = name }
                }
            )
            let status = try await withGRPCClient(transport: transport) { client in
                var options = CallOptions.defaults
                options.timeout = timeout
                options.waitForReady = false
                var request = Grpc_Health_V1_HealthCheckRequest()
                request.service = service
                return try await Grpc_Health_V1_Health.Client(wrapping: client).check(request, options: options).status
            }
            guard status == .serving else {
                return (.critical, "gRPC \(self.target) serving status: \(Self.name(of: status))")
            }
            return (.passing, "gRPC check \(self.target): success")
        } catch let error as RPCError {
            return (
                .critical,
                "gRPC check \(self.target): rpc error: code = \(Self.name(of: error.code)) desc = \(error.message)"
            )
        } catch {
            return (.critical, "gRPC check \(self.target): \(error)")
        }
    }

    private var security: HTTP2ClientTransport.Posix.TransportSecurity {
        guard self.useTLS else { return .plaintext }
        return .tls { tls in
            tls.trustRoots = .systemDefault
            tls.serverCertificateVerification = self.skipVerify ? .noVerification : .fullVerification
        }
    }

    /// A status code as gRPC's Go library (and so Consul's output) spells it: `NotFound`.
    static func name(of code: RPCError.Code) -> String {
        let name = "\(code)"
        guard name != "cancelled" else { return "Canceled" }
        return name.prefix(1).uppercased() + name.dropFirst()
    }

    /// The protocol's names for a status, as Consul's output shows them.
    static func name(of status: Grpc_Health_V1_HealthCheckResponse.ServingStatus) -> String {
        switch status {
        case .unknown: "UNKNOWN"
        case .serving: "SERVING"
        case .notServing: "NOT_SERVING"
        case .serviceUnknown: "SERVICE_UNKNOWN"
        case .UNRECOGNIZED(let value): "\(value)"
        }
    }
}
