public import MeshStore
public import ServiceLifecycle

/// Calls `onChange` after every change to `topic` on the feed, until shutdown; how a service
/// drops its in-memory caches (tokens, intentions, the CA signer) when their rows change.
///
/// The next mark is taken before `onChange` runs, so a change that lands while it runs is seen
/// by the next wait rather than lost.
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
        var mark = self.feed.mark([self.topic])
        while !Task.isCancelled {
            let changed = await self.feed.wait(beyond: mark, until: .now + .seconds(60))
            let next = self.feed.mark([self.topic])
            if changed { self.onChange() }
            mark = next
        }
    }
}
