public import MeshRPC
import MeshServer
import MeshStore

extension CatalogConfig {
    /// Builds the config from flags (nil when not given) and the environment: a flag wins over
    /// its `MESH_*` variable, which wins over the default. Errors name the flag and the variable.
    public static func resolve(
        databaseURL: String?,
        grpcAddr: String?,
        httpAddr: String?,
        datacenter: String?,
        advertiseAddr: String?,
        authzAddr: String? = nil,
        tls: TLSPaths = TLSPaths(),
        environment: [String: String]
    ) throws -> CatalogConfig {
        let settings = SettingResolver(environment: environment)
        let http = try settings.address(
            flag: httpAddr,
            flagName: "--http-addr",
            variable: "MESH_HTTP_ADDR",
            default: "127.0.0.1:8500"
        )
        var config = CatalogConfig(
            database: try DatabaseSettings.resolve(
                url: settings.string(flag: databaseURL, variable: "MESH_DATABASE_URL"),
                environment: environment
            ),
            grpcAddress: try settings.address(
                flag: grpcAddr,
                flagName: "--grpc-addr",
                variable: "MESH_GRPC_ADDR",
                default: "127.0.0.1:8502"
            ),
            httpAddress: http,
            datacenter: settings.string(flag: datacenter, variable: "MESH_DATACENTER") ?? "dc1",
            advertiseAddress: settings.string(flag: advertiseAddr, variable: "MESH_ADVERTISE_ADDR")
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
        return config
    }
}
