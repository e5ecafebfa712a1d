/// Logger metadata keys, declared once so that log queries can rely on them.
public enum MeshLogKey {
    public static let service = "mesh.service"
    public static let instanceID = "mesh.instance_id"
    public static let node = "mesh.node"
    public static let checkID = "mesh.check_id"
    public static let index = "mesh.index"
    public static let address = "mesh.address"
    public static let schema = "mesh.schema"
    public static let migration = "mesh.migration"
    public static let error = "mesh.error"
    public static let path = "mesh.path"
    public static let method = "mesh.method"
    public static let status = "mesh.status"
    public static let pid = "mesh.pid"
    public static let topic = "mesh.topic"
    public static let replica = "mesh.replica"
}
