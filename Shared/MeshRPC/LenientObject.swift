public import MeshCore

/// A JSON object read the way Consul's Go decoder reads request bodies: keys match without
/// regard to case (py-consul sends `node`, curl users `Node`), and every type error names the
/// field's path (`Service.Port`).
public struct LenientObject: Sendable {
    /// The path of this object in the request, for error messages ("" at the top).
    public let path: String
    private let fields: [String: JSONValue]

    public init(_ value: JSONValue, path: String = "") throws(ValidationError) {
        guard case .object(let object) = value else {
            throw ValidationError(field: path.isEmpty ? "body" : path, reason: "expected a JSON object")
        }
        var fields: [String: JSONValue] = [:]
        for (key, value) in object { fields[key.lowercased()] = value }
        self.fields = fields
        self.path = path
    }

    /// The keys present (lowercased).
    public var keys: Set<String> { Set(self.fields.keys) }

    private func fieldPath(_ key: String) -> String {
        self.path.isEmpty ? key : "\(self.path).\(key)"
    }

    /// The raw value; nil when absent or null.
    public func raw(_ key: String) -> JSONValue? {
        switch self.fields[key.lowercased()] {
        case .none, .null?: nil
        case let value?: value
        }
    }

    public func string(_ key: String) throws(ValidationError) -> String? {
        guard let value = self.raw(key) else { return nil }
        guard case .string(let string) = value else {
            throw ValidationError(field: self.fieldPath(key), reason: "expected a string")
        }
        return string
    }

    public func int(_ key: String) throws(ValidationError) -> Int? {
        guard let value = self.raw(key) else { return nil }
        guard case .number(let number) = value, number.rounded() == number, abs(number) < 9e15 else {
            throw ValidationError(field: self.fieldPath(key), reason: "expected an integer")
        }
        return Int(number)
    }

    public func bool(_ key: String) throws(ValidationError) -> Bool? {
        guard let value = self.raw(key) else { return nil }
        guard case .bool(let bool) = value else {
            throw ValidationError(field: self.fieldPath(key), reason: "expected true or false")
        }
        return bool
    }

    public func stringArray(_ key: String) throws(ValidationError) -> [String]? {
        guard let value = self.raw(key) else { return nil }
        guard case .array(let items) = value else {
            throw ValidationError(field: self.fieldPath(key), reason: "expected an array of strings")
        }
        var result: [String] = []
        for (index, item) in items.enumerated() {
            guard case .string(let string) = item else {
                throw ValidationError(field: "\(self.fieldPath(key))[\(index)]", reason: "expected a string")
            }
            result.append(string)
        }
        return result
    }

    public func stringMap(_ key: String) throws(ValidationError) -> [String: String]? {
        guard let value = self.raw(key) else { return nil }
        guard case .object(let object) = value else {
            throw ValidationError(field: self.fieldPath(key), reason: "expected an object of strings")
        }
        var result: [String: String] = [:]
        for (name, item) in object {
            guard case .string(let string) = item else {
                throw ValidationError(field: "\(self.fieldPath(key)).\(name)", reason: "expected a string")
            }
            result[name] = string
        }
        return result
    }

    public func object(_ key: String) throws(ValidationError) -> LenientObject? {
        guard let value = self.raw(key) else { return nil }
        return try LenientObject(value, path: self.fieldPath(key))
    }

    public func objectArray(_ key: String) throws(ValidationError) -> [LenientObject]? {
        guard let value = self.raw(key) else { return nil }
        guard case .array(let items) = value else {
            throw ValidationError(field: self.fieldPath(key), reason: "expected an array of objects")
        }
        var result: [LenientObject] = []
        for (index, item) in items.enumerated() {
            result.append(try LenientObject(item, path: "\(self.fieldPath(key))[\(index)]"))
        }
        return result
    }

    /// A duration given as a Go duration string ("10s") or a number of nanoseconds, as Consul accepts.
    public func duration(_ key: String) throws(ValidationError) -> Duration? {
        guard let value = self.raw(key) else { return nil }
        switch value {
        case .string(let text):
            guard let duration = GoDuration.parse(text) else {
                throw ValidationError(field: self.fieldPath(key), reason: "invalid duration \"\(text)\"")
            }
            return duration
        case .number(let nanoseconds) where nanoseconds >= 0 && nanoseconds < 9e18:
            return .nanoseconds(Int64(nanoseconds))
        default:
            throw ValidationError(field: self.fieldPath(key), reason: "expected a duration such as \"10s\"")
        }
    }
}
