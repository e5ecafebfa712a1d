import Synchronization

/// A value that is set once and awaited by any number of tasks (a bound address, readiness).
public final class Rendezvous<Value: Sendable>: Sendable {
    private let state = Mutex<(value: Value?, waiters: [CheckedContinuation<Value, Never>])>((nil, []))

    public init() {}

    /// Sets the value and wakes every waiter. Later calls are ignored.
    public func fulfill(_ value: Value) {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Value, Never>] in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    /// The value once set.
    public var value: Value {
        get async {
            await withCheckedContinuation { continuation in
                let ready = self.state.withLock { state -> Value? in
                    if let value = state.value { return value }
                    state.waiters.append(continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }

    /// The value if already set.
    public var current: Value? { self.state.withLock { $0.value } }
}
