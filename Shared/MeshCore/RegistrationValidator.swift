/// A registration that cannot be accepted, naming the offending field as the API spells it.
public struct ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The field, in the API's spelling (`Service.Port`, `Checks[1].Status`).
    public var field: String
    public var reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(self.field): \(self.reason)" }
}

/// Checks a registration before anything is written and fills Consul's defaults.
public enum RegistrationValidator {
    /// Returns the registration with defaults filled in, or throws the first problem found.
    ///
    /// Defaults, as Consul applies them: the service ID is the service name; a check without a
    /// status is critical; a check's service name and tags come from the instance it names.
    public static func validate(_ registration: Registration) throws(ValidationError) -> Registration {
        var result = registration
        guard !result.node.name.isEmpty else {
            throw ValidationError(field: "Node", reason: "missing node name")
        }
        guard result.skipNodeUpdate || !result.node.address.isEmpty else {
            throw ValidationError(field: "Address", reason: "missing node address")
        }
        if var service = result.service {
            guard !service.name.isEmpty else {
                throw ValidationError(field: "Service.Service", reason: "missing service name")
            }
            if service.id.isEmpty { service.id = service.name }
            guard (0...65535).contains(service.port) else {
                throw ValidationError(field: "Service.Port", reason: "must be between 0 and 65535")
            }
            guard service.weights.passing >= 1, service.weights.warning >= 0 else {
                throw ValidationError(field: "Service.Weights", reason: "Passing must be >= 1 and Warning >= 0")
            }
            service.node = result.node.name
            result.service = service
        }
        var seen = Set<String>()
        for index in result.checks.indices {
            var check = result.checks[index]
            let field = "Checks[\(index)]"
            check.node = result.node.name
            guard !check.checkID.isEmpty || !check.name.isEmpty else {
                throw ValidationError(field: "\(field).CheckID", reason: "missing check ID and name")
            }
            if check.checkID.isEmpty { check.checkID = check.name }
            if check.name.isEmpty { check.name = check.checkID }
            guard seen.insert(check.checkID).inserted else {
                throw ValidationError(field: "\(field).CheckID", reason: "duplicate check ID \"\(check.checkID)\"")
            }
            if !check.serviceID.isEmpty {
                guard let service = result.service, service.id == check.serviceID else {
                    // Checks may name an instance already on the node; the store verifies that.
                    result.checks[index] = check
                    continue
                }
                check.serviceName = service.name
                check.serviceTags = service.tags
            }
            if check.type.isEmpty { check.type = check.definition.inferredType }
            result.checks[index] = check
        }
        return result
    }
}
