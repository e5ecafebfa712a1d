/// A catalog modify index: a monotonic position in one service's change history.
///
/// Every write takes the next value of its schema's sequence and stores it on the rows it
/// touches (`create_index`/`modify_index`); readers report the highest index that their
/// result reflects (`X-Consul-Index`). Index 0 means "nothing yet" and is never reported.
public typealias ModifyIndex = UInt64

/// A value together with the index of the state it was read from.
///
/// `settled` is false while the value shows a write above the schema's stable index: an earlier
/// write is still in flight, so the index reported (the stable one) lags what the value shows,
/// and a later look moves it on without any new change being announced.
public struct Indexed<Value> {
    /// The value read.
    public var value: Value
    /// The index of the state `value` reflects (at least 1).
    public var index: ModifyIndex
    /// Whether `index` already covers everything `value` shows.
    public var settled: Bool

    /// Wraps `value` read at `index`.
    public init(_ value: Value, index: ModifyIndex) {
        self.value = value
        self.index = max(index, 1)
        self.settled = true
    }

    /// A value whose own newest row has `resultIndex`, read when the stable index was `stable`:
    /// the index reported never passes the stable one, so it never skips a write still in flight.
    public init(_ value: Value, resultIndex: ModifyIndex, stable: ModifyIndex) {
        self.value = value
        self.index = max(min(resultIndex, stable), 1)
        self.settled = resultIndex <= stable
    }

    /// Transforms the value and keeps the index.
    public func map<T>(_ transform: (Value) throws -> T) rethrows -> Indexed<T> {
        var other = Indexed<T>(try transform(self.value), index: self.index)
        other.settled = self.settled
        return other
    }
}

extension Indexed: Sendable where Value: Sendable {}
extension Indexed: Equatable where Value: Equatable {}
