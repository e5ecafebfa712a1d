public import MeshStore
public import ServiceLifecycle

/// Calls `onChange` after every change to `topic` on the feed, until shutdown; how a service
/// drops its in-memory caches (tokens, intentions, the CA signer) when their rows change.
///
/// A change that lands while `onChange` runs is seen by the next wait rather than lost (see
/// `ChangeFeed.changes(of:)`).
public struct TopicFollower: Service {
    let feed: ChangeFeed
    let topic: ChangeTopic
    let onChange: @Sendable () -> Void

    public init(feed: ChangeFeed, topic: ChangeTopic, onChange: @escaping @Sendable () -> Void) {
        self.feed = feed
        self.topic = topic
        self.onChange = onChange
    }

    public func run() async {
        await cancelWhenGracefulShutdown { await self.follow() }
    }

    private func follow() async {
        for await _ in self.feed.changes(of: [self.topic]) { self.onChange() }
    }
}
