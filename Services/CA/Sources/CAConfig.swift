import Foundation
import MeshNet
public import MeshRPC
import MeshServer
import MeshStore
public import MeshStoreHost
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
    public var host: HostSettings
    public var kek: KeyEncryptionKey
    public var authzAddress: ServiceAddress?
    public var datacenter: String
    public var maximumLeafTTL: Duration
    public var csrRate: Int
    public var csrRatePerToken: Double = 0.5
    /// How long the cross-signed certificate of a rotated-in root lasts (at least a leaf's life).
    public var crossSignValidity: Duration = CARoot.defaultCrossSignValidity

    public init(
        host: HostSettings,
        kek: KeyEncryptionKey,
        authzAddress: ServiceAddress? = nil,
        datacenter: String = "dc1",
        maximumLeafTTL: Duration = .seconds(168 * 3600),
        csrRate: Int = 10_000
    ) {
        self.host = host
        self.host.name = "ca-svc"
        self.kek = kek
        self.authzAddress = authzAddress
        self.datacenter = datacenter
        self.maximumLeafTTL = maximumLeafTTL
        self.csrRate = csrRate
    }

    /// Builds the config from flags (nil when not given) and the environment.
    public static func resolve(
        _ host: HostFlags,
        kekFile: String?,
        authzAddr: String?,
        datacenter: String?,
        maxLeafTTL: String?,
        csrRate: String?,
        csrRatePerToken: String? = nil,
        environment: [String: String]
    ) throws -> CAConfig {
        let settings = SettingResolver(environment: environment)
        var config = CAConfig(
            host: try HostSettings.resolve(
                host,
                name: "ca-svc",
                grpcDefault: "127.0.0.1:8506",
                httpDefault: "127.0.0.1:8507",
                environment: environment
            ),
            kek: try Self.kek(file: kekFile, environment: environment),
            authzAddress: try HostSettings.authzAddress(flag: authzAddr, environment: environment),
            datacenter: settings.string(flag: datacenter, variable: "MESH_DATACENTER") ?? "dc1",
            maximumLeafTTL: try settings.duration(
                flag: maxLeafTTL,
                flagName: "--max-leaf-ttl",
                variable: "MESH_CA_MAX_LEAF_TTL",
                default: .seconds(168 * 3600)
            )
        )
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
}
