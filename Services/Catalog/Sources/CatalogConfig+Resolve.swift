import MeshRPC
public import MeshStoreHost

extension CatalogConfig {
    /// Builds the config from flags (nil when not given) and the environment: a flag wins over
    /// its `MESH_*` variable, which wins over the default. Errors name the flag and the variable.
    public static func resolve(
        _ host: HostFlags,
        datacenter: String?,
        authzAddr: String? = nil,
        environment: [String: String]
    ) throws -> CatalogConfig {
        let settings = SettingResolver(environment: environment)
        return CatalogConfig(
            host: try HostSettings.resolve(
                host,
                name: "catalog-svc",
                grpcDefault: "127.0.0.1:8502",
                httpDefault: "127.0.0.1:8500",
                environment: environment
            ),
            datacenter: settings.string(flag: datacenter, variable: "MESH_DATACENTER") ?? "dc1",
            authzAddress: try HostSettings.authzAddress(flag: authzAddr, environment: environment)
        )
    }
}
