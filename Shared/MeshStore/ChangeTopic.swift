/// What a change touched, so that only the watchers whose result can have changed wake up.
///
/// Topics are strings so that they travel in a notification payload unchanged: a service's
/// health (`svc:web`), one node (`node:n1`), whole tables (`services`, `nodes`, `checks`).
public struct ChangeTopic: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) {
        self.rawValue = rawValue
    }

    public var description: String { self.rawValue }
}

/// A point in the change feed: the versions of some topics as seen at one moment.
///
/// Take a mark before reading, and wait beyond it after: a change that commits after the read
/// began moves a version past the mark, so no change between read and wait is missed.
public struct ChangeMark: Sendable, Hashable {
    let global: UInt64
    let topics: [ChangeTopic: UInt64]

    /// The highest index the feed had seen when the mark was taken.
    public var index: UInt64 { self.global }
}
