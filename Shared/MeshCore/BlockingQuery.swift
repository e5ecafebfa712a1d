/// The parameters of a Consul blocking query (`?index=N&wait=D`), shared by REST and gRPC.
public struct BlockingQuery: Sendable, Hashable {
    /// Return once the result's index is above this; 0 means answer at once.
    public var minIndex: ModifyIndex
    /// How long to wait at most, jitter included.
    public var maxWait: Duration

    /// Consul's default wait (5 minutes).
    public static let defaultWait: Duration = .seconds(300)
    /// Consul's maximum wait (10 minutes).
    public static let maximumWait: Duration = .seconds(600)

    public init(minIndex: ModifyIndex, maxWait: Duration) {
        self.minIndex = minIndex
        self.maxWait = maxWait
    }

    /// A query that answers at once.
    public static let immediate = BlockingQuery(minIndex: 0, maxWait: .zero)

    /// Whether the caller asked to block at all.
    public var isBlocking: Bool { self.minIndex > 0 }

    /// Builds the query from a requested index and wait as Consul does: the wait defaults to
    /// 5 minutes, is capped at 10, and gets up to 1/16 of random jitter added so that many
    /// clients started together do not return together.
    public static func make(
        index: ModifyIndex,
        wait: Duration?,
        jitter: (Int64) -> Int64 = { $0 > 0 ? Int64.random(in: 0...$0) : 0 }
    ) -> BlockingQuery {
        guard index > 0 else { return .immediate }
        var base = wait ?? Self.defaultWait
        if base <= .zero { base = Self.defaultWait }
        if base > Self.maximumWait { base = Self.maximumWait }
        let extra = jitter(base.totalMilliseconds / 16)
        return BlockingQuery(minIndex: index, maxWait: base + .milliseconds(extra))
    }
}
