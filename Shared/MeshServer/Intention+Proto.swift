public import MeshCore
public import MeshProto

/// Intentions between the domain model and the `mesh.v1.Intentions` contract (both ways, so
/// that authz-svc sends and the config-distributor reads the same shape).
extension Mesh_V1_IntentionRule {
    public init(_ intention: Intention) {
        self.init()
        self.sourceNamespace = intention.sourceNamespace
        self.sourceName = intention.sourceName
        self.destinationNamespace = intention.destinationNamespace
        self.destinationName = intention.destinationName
        self.action = intention.action.rawValue
        self.permissions = intention.permissions.map { permission in
            var message = Mesh_V1_IntentionPermission()
            message.action = permission.action.rawValue
            if let http = permission.http {
                message.http.pathExact = http.pathExact
                message.http.pathPrefix = http.pathPrefix
                message.http.pathRegex = http.pathRegex
                message.http.methods = http.methods
                message.http.headers = http.header.map { header in
                    var rule = Mesh_V1_IntentionHTTPHeader()
                    rule.name = header.name
                    rule.present = header.present
                    rule.exact = header.exact
                    rule.prefix = header.prefix
                    rule.suffix = header.suffix
                    rule.contains = header.contains
                    rule.regex = header.regex
                    rule.ignoreCase = header.ignoreCase
                    rule.invert = header.invert
                    return rule
                }
            }
            return message
        }
        self.precedence = Int32(intention.precedence)
        self.sourcePartition = intention.sourcePartition
        self.destinationPartition = intention.destinationPartition
        self.sourcePeer = intention.sourcePeer
        self.description_p = intention.description
    }
}

extension Intention {
    /// The intention a `mesh.v1` rule describes.
    public init(_ rule: Mesh_V1_IntentionRule) {
        self.init(
            description: rule.description_p,
            sourceNamespace: rule.sourceNamespace,
            sourceName: rule.sourceName,
            destinationNamespace: rule.destinationNamespace,
            destinationName: rule.destinationName,
            sourcePartition: rule.sourcePartition,
            destinationPartition: rule.destinationPartition,
            sourcePeer: rule.sourcePeer,
            action: IntentionAction(rawValue: rule.action),
            permissions: rule.permissions.map { permission in
                IntentionPermission(
                    action: IntentionAction(rawValue: permission.action),
                    http: permission.hasHTTP
                        ? IntentionHTTPPermission(
                            pathExact: permission.http.pathExact,
                            pathPrefix: permission.http.pathPrefix,
                            pathRegex: permission.http.pathRegex,
                            header: permission.http.headers.map { header in
                                IntentionHTTPHeaderPermission(
                                    name: header.name,
                                    present: header.present,
                                    exact: header.exact,
                                    prefix: header.prefix,
                                    suffix: header.suffix,
                                    contains: header.contains,
                                    regex: header.regex,
                                    invert: header.invert,
                                    ignoreCase: header.ignoreCase
                                )
                            },
                            methods: permission.http.methods
                        ) : nil
                )
            },
            precedence: Int(rule.precedence)
        )
    }
}
