import MeshCore
import MeshStore

/// Answers the catalog's and the KV store's blocking queries (REST `?index=` and the gRPC reads
/// and watch) with the store's one blocking read, sharing identical reads woken by the same change.
final class CatalogWatcher: Sendable {
    let store: CatalogStore
    let feed: ChangeFeed
    /// While a write below a result's index is still in flight, re-read after this long.
    let unsettledRetry: Duration
    private let reads = SharedReads<CatalogQuery, CatalogResult>()
    private let kvReads = SharedReads<KVRead, [KVEntry]>()

    /// A KV read, as `SharedReads` keys it.
    struct KVRead: Hashable, Sendable {
        var query: KVQuery
        var values: Bool
    }

    init(store: CatalogStore, unsettledRetry: Duration = ChangeFeed.unsettledRetry) {
        self.store = store
        self.feed = store.feed
        self.unsettledRetry = unsettledRetry
    }

    /// The results of `query` as a watch stream sends them (see `ChangeFeed.watch`), each shown
    /// through `view` (the caller's ACL filter and the message it sends).
    func watch<Value: Equatable>(
        _ query: CatalogQuery,
        from index: ModifyIndex,
        _ view: @escaping @Sendable (CatalogResult) -> Value
    ) -> ChangeFeed.Watch<Value> {
        self.feed.watch(query.topics, from: index, unsettledRetry: self.unsettledRetry) { mark in
            try await self.reads.read(query, at: mark) { try await self.store.read(query) }.map(view)
        }
    }

    /// The KV entries `query` selects once their index is above `blocking.minIndex` (or at the
    /// deadline); `values: false` when only the keys are wanted.
    func kv(_ query: KVQuery, values: Bool, blocking: BlockingQuery) async throws -> Indexed<[KVEntry]> {
        try await self.feed.blockingRead([query.topic], blocking, unsettledRetry: self.unsettledRetry) { mark in
            try await self.kvReads.read(KVRead(query: query, values: values), at: mark) {
                try await self.store.kv(query, values: values)
            }
        }
    }

    /// The query's result once its index is above `blocking.minIndex`, or the current result at the deadline.
    func read(_ query: CatalogQuery, blocking: BlockingQuery) async throws -> Indexed<CatalogResult> {
        try await self.feed.blockingRead(query.topics, blocking, unsettledRetry: self.unsettledRetry) { mark in
            try await self.reads.read(query, at: mark) { try await self.store.read(query) }
        }
    }
}
