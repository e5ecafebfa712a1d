import Synchronization

/// Token buckets: `rate` permits per second, up to `burst` at once, one bucket per key.
///
/// Protects what a request costs (the CA's signing, the outbound AWS calls of a login) from a
/// stampede; callers told to wait back off and retry. Keyed use gives each caller its own bucket, so one caller cannot use up
/// another's permits. At most `maximumKeys` buckets are kept: past that, the bucket used
/// least recently is forgotten (a forgotten bucket comes back full, which only ever favours
/// the caller it belonged to).
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var last: ContinuousClock.Instant
    }

    /// Permits added per second to each bucket.
    public let rate: Double
    /// The most permits a bucket holds.
    public let burst: Double
    /// The most buckets kept.
    public let maximumKeys: Int
    private let buckets: Mutex<[String: Bucket]>

    /// Buckets of `burst` permits (default: the rate rounded up) refilled at `rate` per second.
    public init(perSecond rate: Double, burst: Int? = nil, maximumKeys: Int = 10_000) {
        self.rate = max(rate, 0.001)
        self.burst = Double(max(burst ?? Int(rate.rounded(.up)), 1))
        self.maximumKeys = max(maximumKeys, 1)
        self.buckets = Mutex([:])
    }

    /// Buckets of `burst` permits (default: `rate`) refilled at `rate` per second.
    public convenience init(perSecond rate: Int, burst: Int? = nil) {
        self.init(perSecond: Double(rate), burst: burst ?? max(rate, 1))
    }

    /// Takes one permit from `key`'s bucket if there is one.
    public func tryAcquire(_ key: String = "", now: ContinuousClock.Instant = .now) -> Bool {
        self.buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: self.burst, last: now)
            let elapsed = now - bucket.last
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(self.burst, bucket.tokens + max(seconds, 0) * self.rate)
            bucket.last = now
            let granted = bucket.tokens >= 1
            if granted { bucket.tokens -= 1 }
            if buckets[key] == nil && buckets.count >= self.maximumKeys,
                let oldest = buckets.min(by: { $0.value.last < $1.value.last })?.key
            {
                buckets[oldest] = nil
            }
            buckets[key] = bucket
            return granted
        }
    }

    /// How many buckets are kept now.
    public var keyCount: Int { self.buckets.withLock { $0.count } }
}
