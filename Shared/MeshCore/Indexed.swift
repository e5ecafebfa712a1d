/// A catalog modify index: a monotonic position in one service's change history.
///
/// Every write takes the next value of its schema's sequence and stores it on the rows it
/// touches (`create_index`/`modify_index`); readers report the highest index that their
/// result reflects (`X-Consul-Index`). Index 0 means "nothing yet" and is never reported.
public typealias ModifyIndex = UInt64

/// A value together with the index of the state it was read from.
public struct Indexed<Value> {
    /// The value read.
    public var value: Value
    /// The index of the state `value` reflects (at least 1).
    public var index: ModifyIndex

    /// Wraps `value` read at `index`.
    public init(_ value: Value, index: ModifyIndex) {
        self.value = value
        self.index = max(index, 1)
    }

    /// Transforms the value and keeps the index.
    public func map<T>(_ transform: (Value) throws -> T) rethrows -> Indexed<T> {
        Indexed<T>(try transform(self.value), index: self.index)
    }
}

extension Indexed: Sendable where Value: Sendable {}
extension Indexed: Equatable where Value: Equatable {}
