/// The log metadata keys of every service, the proxy and the agent, from this one place. Each is
/// `mesh.<name>` in snake case, so a log query finds a field under one name whichever process
/// logged it.
public enum LogKey {
    /// A token's AccessorID (never its secret).
    public static let accessor = "mesh.accessor"
    /// An intention's action (allow, deny).
    public static let action = "mesh.action"
    /// A host:port listened on or dialled.
    public static let address = "mesh.address"
    /// The local app's address.
    public static let app = "mesh.app"
    /// An AWS ARN.
    public static let arn = "mesh.arn"
    /// The attempt number of a retried operation.
    public static let attempt = "mesh.attempt"
    /// An ACL auth method's name.
    public static let authMethod = "mesh.auth_method"
    /// The wait before the next retry.
    public static let backoff = "mesh.backoff"
    /// Who did it: the caller's token accessor or identity.
    public static let by = "mesh.by"
    /// A health check's ID.
    public static let check = "mesh.check"
    /// A number of health checks.
    public static let checks = "mesh.checks"
    /// A number of items.
    public static let count = "mesh.count"
    /// A database name.
    public static let database = "mesh.database"
    /// The ACL default policy.
    public static let defaultPolicy = "mesh.default_policy"
    /// An upstream endpoint (host:port).
    public static let endpoint = "mesh.endpoint"
    /// The error, as text.
    public static let error = "mesh.error"
    /// An object's ID.
    public static let id = "mesh.id"
    /// A Raft-style modify index.
    public static let index = "mesh.index"
    /// An intention (source -> destination).
    public static let intention = "mesh.intention"
    /// A number of intentions.
    public static let intentions = "mesh.intentions"
    /// A config entry's or object's kind.
    public static let kind = "mesh.kind"
    /// Schema migrations applied.
    public static let migrations = "mesh.migrations"
    /// An object's name.
    public static let name = "mesh.name"
    /// A catalog node.
    public static let node = "mesh.node"
    /// A check's output.
    public static let output = "mesh.output"
    /// The remote address of a connection.
    public static let peer = "mesh.peer"
    /// A process ID.
    public static let pid = "mesh.pid"
    /// Why a request or connection was refused.
    public static let reason = "mesh.reason"
    /// A CA root's ID.
    public static let root = "mesh.root"
    /// A database schema.
    public static let schema = "mesh.schema"
    /// A certificate's serial number.
    public static let serial = "mesh.serial"
    /// A service name.
    public static let service = "mesh.service"
    /// A service instance's ID.
    public static let serviceID = "mesh.service_id"
    /// A number of services.
    public static let services = "mesh.services"
    /// A caller's SPIFFE identity.
    public static let source = "mesh.source"
    /// A SPIFFE ID.
    public static let spiffe = "mesh.spiffe"
    /// A health status.
    public static let status = "mesh.status"
    /// A number of ECS tasks.
    public static let tasks = "mesh.tasks"
    /// A number of tokens.
    public static let tokens = "mesh.tokens"
    /// An upstream service's name.
    public static let upstream = "mesh.upstream"
    /// A number of upstreams.
    public static let upstreams = "mesh.upstreams"
    /// When a certificate expires.
    public static let validBefore = "mesh.valid_before"
    /// A config version.
    public static let version = "mesh.version"
    /// What a watch follows.
    public static let watch = "mesh.watch"
}
