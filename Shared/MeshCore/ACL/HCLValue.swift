/// A parsed HCL (v1) or JSON value, with where it came from so later validation can point at it.
///
/// Blocks become nested objects: `service "web" { policy = "read" }` is the member `service` whose
/// value is an object with the member `web`, whose value is `{ policy = "read" }`. Objects keep every
/// member in source order, including repeated keys, because HCL accumulates repeated blocks.
public struct HCLValue: Sendable, Equatable {
    /// What the value is.
    public enum Kind: Sendable, Equatable {
        /// JSON `null`.
        case null
        /// `true` or `false`.
        case bool(Bool)
        /// Any number; HCL and JSON integers and floats alike.
        case number(Double)
        /// A quoted string or a heredoc, escapes decoded.
        case string(String)
        /// `[a, b]`.
        case list([HCLValue])
        /// `{ key = value }`, a block, or a whole document; members in source order, repeats kept.
        case object([HCLMember])
    }

    /// What the value is.
    public var kind: Kind
    /// Where the value starts (for a block, its opening brace).
    public var position: HCLPosition

    /// A value of `kind` at `position`.
    public init(_ kind: Kind, at position: HCLPosition) {
        self.kind = kind
        self.position = position
    }

    /// The string, when this is a string.
    public var stringValue: String? {
        if case .string(let text) = self.kind { return text }
        return nil
    }

    /// The number, when this is a number.
    public var numberValue: Double? {
        if case .number(let value) = self.kind { return value }
        return nil
    }

    /// The boolean, when this is `true` or `false`.
    public var boolValue: Bool? {
        if case .bool(let value) = self.kind { return value }
        return nil
    }

    /// The elements, when this is a list.
    public var listValue: [HCLValue]? {
        if case .list(let values) = self.kind { return values }
        return nil
    }

    /// The members in source order, when this is an object.
    public var members: [HCLMember]? {
        if case .object(let members) = self.kind { return members }
        return nil
    }

    /// The value of the first member named `key` (exact match), when this is an object that has one.
    public subscript(key: String) -> HCLValue? {
        self.members?.first { $0.key == key }?.value
    }

    /// Every member named `key` (exact match), in source order; empty when this is not an object.
    public func members(named key: String) -> [HCLMember] {
        (self.members ?? []).filter { $0.key == key }
    }
}

/// One `key = value` (or block) inside an object, with where its key was written.
public struct HCLMember: Sendable, Equatable {
    /// The key, unquoted.
    public var key: String
    /// Where the key starts.
    public var keyPosition: HCLPosition
    /// The member's value.
    public var value: HCLValue

    /// A member `key` written at `keyPosition` with `value`.
    public init(key: String, at keyPosition: HCLPosition, value: HCLValue) {
        self.key = key
        self.keyPosition = keyPosition
        self.value = value
    }
}
