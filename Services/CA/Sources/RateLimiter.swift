import Synchronization

/// A token bucket: `rate` permits per second, up to `burst` at once. Protects the CA's
/// database and CPU from a stampede of renewals; callers told to wait back off and retry.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var last: ContinuousClock.Instant
    }

    let rate: Double
    let burst: Double
    private let bucket: Mutex<Bucket>

    init(perSecond rate: Int, burst: Int? = nil) {
        self.rate = Double(max(rate, 1))
        self.burst = Double(max(burst ?? rate, 1))
        self.bucket = Mutex(Bucket(tokens: Double(max(burst ?? rate, 1)), last: .now))
    }

    /// Takes one permit if there is one.
    func tryAcquire(now: ContinuousClock.Instant = .now) -> Bool {
        self.bucket.withLock { bucket in
            let elapsed = now - bucket.last
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(self.burst, bucket.tokens + seconds * self.rate)
            bucket.last = now
            guard bucket.tokens >= 1 else { return false }
            bucket.tokens -= 1
            return true
        }
    }
}
