/// Backpressure for a relay: a channel's reads are held while the channel it writes to cannot
/// take more (NIO's writability, past the high watermark), and released when it drains. So a
/// peer that sends faster than the other side takes is slowed by TCP (or HTTP/2 flow control)
/// instead of growing the proxy's memory. The owning handler asks from its `read(context:)`
/// whether the read passes, and when its target becomes writable whether a held read goes out;
/// it calls `context.read()` itself, after the gate's state has changed (a read may deliver
/// data, and so re-enter the handler, synchronously).
struct ReadGate {
    private var pending = false

    /// Whether a read asked for now passes; held while `blocked`.
    mutating func admit(blocked: Bool) -> Bool {
        self.pending = blocked
        return !blocked
    }

    /// Whether a held read goes out now (the target can take more).
    mutating func release() -> Bool {
        defer { self.pending = false }
        return self.pending
    }
}
