public import ArgumentParser
public import MeshRPC
import MeshServer
public import MeshStore

/// The host's flags as given on the command line (nil when absent; the environment and the
/// service's defaults are consulted when they are resolved).
public struct HostFlags: Sendable {
    public var databaseURL: String?
    public var grpcAddr: String?
    public var httpAddr: String?
    public var advertiseAddr: String?
    public var tls = TLSPaths()

    public init() {}
}

/// The flags every control-plane service with a database takes, each with its `MESH_*`
/// variable: one declaration, `@OptionGroup` in each service's command.
public struct HostOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (env MESH_DATABASE_URL, or PGHOST/PGPORT/...).")
    var databaseURL: String?

    @Option(
        name: .customLong("grpc-addr"),
        help: "gRPC listen address (env MESH_GRPC_ADDR; default: the service's port on 127.0.0.1)."
    )
    var grpcAddr: String?

    @Option(
        name: .customLong("http-addr"),
        help: "REST listen address (env MESH_HTTP_ADDR; default: the service's port on 127.0.0.1)."
    )
    var httpAddr: String?

    @Option(name: .customLong("advertise-addr"), help: "Address shown to peers (env MESH_ADVERTISE_ADDR).")
    var advertiseAddr: String?

    @OptionGroup var tls: TLSOptions

    public init() {}

    /// The flags given (only valid on a parsed value).
    public var flags: HostFlags {
        var flags = HostFlags()
        flags.databaseURL = self.databaseURL
        flags.grpcAddr = self.grpcAddr
        flags.httpAddr = self.httpAddr
        flags.advertiseAddr = self.advertiseAddr
        flags.tls = self.tls.paths
        return flags
    }
}

extension HostSettings {
    /// The settings from flags and the environment: a flag wins over its `MESH_*` variable,
    /// which wins over the service's default address; the database also from libpq's `PG*`.
    public static func resolve(
        _ flags: HostFlags,
        name: String,
        grpcDefault: String,
        httpDefault: String,
        environment: [String: String]
    ) throws -> HostSettings {
        let settings = SettingResolver(environment: environment)
        let grpc = try settings.address(
            flag: flags.grpcAddr,
            flagName: "--grpc-addr",
            variable: "MESH_GRPC_ADDR",
            default: grpcDefault
        )
        let http = try settings.address(
            flag: flags.httpAddr,
            flagName: "--http-addr",
            variable: "MESH_HTTP_ADDR",
            default: httpDefault
        )
        return HostSettings(
            name: name,
            database: try DatabaseSettings.resolve(
                url: settings.string(flag: flags.databaseURL, variable: "MESH_DATABASE_URL"),
                environment: environment
            ),
            grpcAddress: grpc,
            httpAddress: http,
            advertiseAddress: settings.string(flag: flags.advertiseAddr, variable: "MESH_ADVERTISE_ADDR"),
            tls: try settings.transportSecurity(flags.tls, http: http, grpc: grpc)
        )
    }

    /// Both listeners on free loopback ports (tests and `meshctl dev`).
    public static func loopback(name: String, database: DatabaseSettings) -> HostSettings {
        HostSettings(
            name: name,
            database: database,
            grpcAddress: HostPort(host: "127.0.0.1", port: 0),
            httpAddress: HostPort(host: "127.0.0.1", port: 0)
        )
    }
}

extension HostSettings {
    /// authz-svc's gRPC address (or its replicas') from `--authz-addr` / `MESH_AUTHZ_ADDR`; nil when neither is set.
    public static func authzAddress(flag: String?, environment: [String: String]) throws -> ServiceAddress? {
        let settings = SettingResolver(environment: environment)
        guard let text = settings.string(flag: flag, variable: "MESH_AUTHZ_ADDR"), !text.isEmpty else { return nil }
        return try settings.serviceAddress(
            flag: text,
            flagName: "--authz-addr",
            variable: "MESH_AUTHZ_ADDR",
            default: text
        )
    }
}
