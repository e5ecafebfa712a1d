import Foundation
public import MeshNet
public import MeshRPC
public import MeshServer
public import MeshStore
import MeshStoreHost
public import MeshTLS

/// ca-svc's settings, resolved once in `main`.
///
/// - `--database-url` / `MESH_DATABASE_URL` (or libpq's `PG*` variables): required
/// - `--kek-file PATH` or `MESH_CA_KEK`: the base64 256-bit key that seals root keys at rest;
///   required, and the service refuses to start without a valid one
/// - `--grpc-addr` / `MESH_GRPC_ADDR` (default 127.0.0.1:8506), `--http-addr` / `MESH_HTTP_ADDR`
///   (default 127.0.0.1:8507)
/// - `--authz-addr` / `MESH_AUTHZ_ADDR`: authz-svc, for ACL enforcement (off without it)
/// - `--datacenter` / `MESH_DATACENTER` (default dc1): leaves are signed for this datacenter only
/// - `--max-leaf-ttl` / `MESH_CA_MAX_LEAF_TTL` (default 168h): a cap on `LeafCertTTL`
/// - `--csr-rate` / `MESH_CA_CSR_RATE` (default 10000): leaves signed per second per replica at most
/// - `--csr-rate-per-token` / `MESH_CA_CSR_RATE_PER_TOKEN` (default 0.5): leaves signed per second
///   per replica for one token at most, after a burst of 10 (or the rate, when larger)
public struct CAConfig: Sendable {
    public var database: DatabaseSettings
    public var kek: KeyEncryptionKey
    public var grpcAddress: HostPort
    public var httpAddress: HostPort
    public var advertiseAddress: String?
    public var authzAddress: HostPort?
    public var datacenter: String
    public var maximumLeafTTL: Duration
    public var csrRate: Int
    public var csrRatePerToken: Double = 0.5
    /// TLS for the listeners and for calls to authz-svc (`--tls-*-file`); nil: plaintext on loopback.
    public var tls: TLSFiles?
    /// Connection caps, handshake and idle deadlines, gRPC keepalive (`ServerLimits.default`).
    public var limits: ServerLimits = .default
    /// How long the cross-signed certificate of a rotated-in root lasts (at least a leaf's life).
    public var crossSignValidity: Duration = CARoot.defaultCrossSignValidity
    public var leaderRetryInterval: Duration = .seconds(1)
    public var feedSafetyInterval: Duration = .seconds(10)
    public var drainTimeout: Duration = .seconds(10)

    public init(
        database: DatabaseSettings,
        kek: KeyEncryptionKey,
        grpcAddress: HostPort = HostPort(host: "127.0.0.1", port: 8506),
        httpAddress: HostPort = HostPort(host: "127.0.0.1", port: 8507),
        advertiseAddress: String? = nil,
        authzAddress: HostPort? = nil,
        datacenter: String = "dc1",
        maximumLeafTTL: Duration = .seconds(168 * 3600),
        csrRate: Int = 10_000
    ) {
        self.database = database
        self.kek = kek
        self.grpcAddress = grpcAddress
        self.httpAddress = httpAddress
        self.advertiseAddress = advertiseAddress
        self.authzAddress = authzAddress
        self.datacenter = datacenter
        self.maximumLeafTTL = maximumLeafTTL
        self.csrRate = csrRate
    }

    /// Builds the config from flags (nil when not given) and the environment.
    public static func resolve(
        databaseURL: String?,
        kekFile: String?,
        grpcAddr: String?,
        httpAddr: String?,
        advertiseAddr: String?,
        authzAddr: String?,
        datacenter: String?,
        maxLeafTTL: String?,
        csrRate: String?,
        csrRatePerToken: String? = nil,
        tls: TLSPaths = TLSPaths(),
        environment: [String: String]
    ) throws -> CAConfig {
        let settings = SettingResolver(environment: environment)
        let http = try settings.address(
            flag: httpAddr,
            flagName: "--http-addr",
            variable: "MESH_HTTP_ADDR",
            default: "127.0.0.1:8507"
        )
        var config = CAConfig(
            database: try DatabaseSettings.resolve(
                url: settings.string(flag: databaseURL, variable: "MESH_DATABASE_URL"),
                environment: environment
            ),
            kek: try Self.kek(file: kekFile, environment: environment),
            grpcAddress: try settings.address(
                flag: grpcAddr,
                flagName: "--grpc-addr",
                variable: "MESH_GRPC_ADDR",
                default: "127.0.0.1:8506"
            ),
            httpAddress: http,
            advertiseAddress: settings.string(flag: advertiseAddr, variable: "MESH_ADVERTISE_ADDR"),
            datacenter: settings.string(flag: datacenter, variable: "MESH_DATACENTER") ?? "dc1",
            maximumLeafTTL: try settings.duration(
                flag: maxLeafTTL,
                flagName: "--max-leaf-ttl",
                variable: "MESH_CA_MAX_LEAF_TTL",
                default: .seconds(168 * 3600)
            )
        )
        if let authz = settings.string(flag: authzAddr, variable: "MESH_AUTHZ_ADDR"), !authz.isEmpty {
            config.authzAddress = try settings.address(
                flag: authz,
                flagName: "--authz-addr",
                variable: "MESH_AUTHZ_ADDR",
                default: authz
            )
        }
        config.tls = try settings.transportSecurity(tls, http: config.httpAddress, grpc: config.grpcAddress)
        if let rate = settings.string(flag: csrRate, variable: "MESH_CA_CSR_RATE") {
            guard let value = Int(rate), value > 0 else {
                throw SettingError(setting: "--csr-rate / MESH_CA_CSR_RATE", reason: "expected a positive integer")
            }
            config.csrRate = value
        }
        if let rate = settings.string(flag: csrRatePerToken, variable: "MESH_CA_CSR_RATE_PER_TOKEN") {
            guard let value = Double(rate), value > 0, value.isFinite else {
                throw SettingError(
                    setting: "--csr-rate-per-token / MESH_CA_CSR_RATE_PER_TOKEN",
                    reason: "expected a positive number"
                )
            }
            config.csrRatePerToken = value
        }
        return config
    }

    /// The key-encryption key from `--kek-file` (or `MESH_CA_KEK_FILE`), else `MESH_CA_KEK`.
    static func kek(file: String?, environment: [String: String]) throws -> KeyEncryptionKey {
        if let path = file ?? environment["MESH_CA_KEK_FILE"], !path.isEmpty {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw SettingError(setting: "--kek-file", reason: "cannot read \(path)")
            }
            do {
                return try KeyEncryptionKey(base64: text, settingName: "--kek-file \(path)")
            } catch {
                throw SettingError(setting: "--kek-file", reason: "\(error)")
            }
        }
        guard let text = environment["MESH_CA_KEK"], !text.isEmpty else {
            throw SettingError(
                setting: "--kek-file / MESH_CA_KEK",
                reason: "a key-encryption key is required: base64 of 32 random bytes (e.g. `openssl rand -base64 32`)"
            )
        }
        do {
            return try KeyEncryptionKey(base64: text, settingName: "MESH_CA_KEK")
        } catch {
            throw SettingError(setting: "MESH_CA_KEK", reason: "\(error)")
        }
    }

    var hostSettings: HostSettings {
        HostSettings(
            name: "ca-svc",
            database: self.database,
            grpcAddress: self.grpcAddress,
            httpAddress: self.httpAddress,
            advertiseAddress: self.advertiseAddress,
            leaderRetryInterval: self.leaderRetryInterval,
            feedSafetyInterval: self.feedSafetyInterval,
            drainTimeout: self.drainTimeout,
            tls: self.tls,
            limits: self.limits
        )
    }
}
