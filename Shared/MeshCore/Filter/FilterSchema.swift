/// The selectors an endpoint's `?filter=` may name, as go-bexpr derives them from the type
/// Consul filters there (`structs.Node`, `ServiceNode`, `NodeService`, `HealthCheck`,
/// `CheckServiceNode`): a selector outside them is refused (`Selector "Service.Nmae" is not
/// valid`) rather than silently matching nothing. Field names are the JSON's.
///
/// Nested structures clients rarely filter on (a proxy's configuration, a check's definition)
/// are `.any`: what is below them is not checked, so that a valid selector is never refused.
public indirect enum FilterSchema: Sendable {
    /// A scalar, or a list of scalars (`Tags`): the selector ends here.
    case value
    /// A map with keys the user chose (`Meta`): one key after it, then the end.
    case map
    /// Not checked below this point.
    case any
    /// An object, or a list of objects (`Checks`), with these fields.
    case fields([String: FilterSchema])

    /// Whether `path` names something here.
    func accepts(_ path: ArraySlice<String>) -> Bool {
        guard let first = path.first else { return true }
        switch self {
        case .value: return false
        case .map: return path.count == 1 && !first.isEmpty
        case .any: return true
        case .fields(let fields): return fields[first]?.accepts(path.dropFirst()) ?? false
        }
    }
}

extension FilterSchema {
    private static func with(_ base: [String: FilterSchema], _ more: [String: FilterSchema]) -> FilterSchema {
        .fields(base.merging(more) { _, new in new })
    }

    private static let indexes: [String: FilterSchema] = ["CreateIndex": .value, "ModifyIndex": .value]
    private static let weights: FilterSchema = .fields(["Passing": .value, "Warning": .value])

    /// `/v1/catalog/nodes` (and `Node` of a health entry).
    public static let node: FilterSchema = with(
        indexes,
        [
            "ID": .value, "Node": .value, "Address": .value, "Datacenter": .value, "TaggedAddresses": .map,
            "Meta": .map, "PeerName": .value, "Partition": .value,
        ]
    )

    /// `/v1/agent/services`, `/v1/catalog/node-services/:node` (and `Service` of a health entry).
    public static let nodeService: FilterSchema = with(
        indexes,
        [
            "Kind": .value, "ID": .value, "Service": .value, "Tags": .value, "Address": .value,
            "TaggedAddresses": .any, "Meta": .map, "Port": .value, "SocketPath": .value, "Weights": weights,
            "EnableTagOverride": .value, "Proxy": .any, "Connect": .any, "PeerName": .value, "Locality": .any,
            "Namespace": .value, "Partition": .value, "Datacenter": .value, "ContentHash": .value,
        ]
    )

    /// `/v1/catalog/service/:service` and `/v1/catalog/connect/:service`.
    public static let serviceNode: FilterSchema = with(
        indexes,
        [
            "ID": .value, "Node": .value, "Address": .value, "Datacenter": .value, "TaggedAddresses": .map,
            "NodeMeta": .map, "ServiceKind": .value, "ServiceID": .value, "ServiceName": .value,
            "ServiceTags": .value, "ServiceAddress": .value, "ServiceTaggedAddresses": .any,
            "ServiceWeights": weights, "ServiceMeta": .map, "ServicePort": .value, "ServiceSocketPath": .value,
            "ServiceEnableTagOverride": .value, "ServiceProxy": .any, "ServiceConnect": .any,
            "ServiceLocality": .any, "PeerName": .value, "Namespace": .value, "Partition": .value,
        ]
    )

    /// `/v1/health/checks/:service`, `/v1/health/node/:node`, `/v1/health/state/:state`,
    /// `/v1/agent/checks` (and `Checks` of a health entry).
    public static let healthCheck: FilterSchema = with(
        indexes,
        [
            "Node": .value, "CheckID": .value, "Name": .value, "Status": .value, "Notes": .value,
            "Output": .value, "ServiceID": .value, "ServiceName": .value, "ServiceTags": .value, "Type": .value,
            "Interval": .value, "Timeout": .value, "ExposedPort": .value, "Definition": .any, "PeerName": .value,
            "Namespace": .value, "Partition": .value,
        ]
    )

    /// `/v1/health/service/:service` and `/v1/health/connect/:service`.
    public static let checkServiceNode: FilterSchema = .fields([
        "Node": node, "Service": nodeService, "Checks": healthCheck,
    ])

    /// `/v1/catalog/services`: each service as `{ServiceName, ServiceTags}`.
    public static let catalogServices: FilterSchema = .fields(["ServiceName": .value, "ServiceTags": .value])
}
