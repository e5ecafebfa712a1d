import Foundation
public import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The helpers every benchmark shares: output, statistics, and the closed-loop rate measurement.

/// One unbuffered line on stdout (a benchmark's log is read while it runs).
public func say(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(1, $0, strlen($0)) }
}

/// The `p`th percentile (0...100) of `values`, nearest rank; NaN when empty.
public func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((p / 100 * Double(sorted.count - 1)).rounded()))]
}

public func median(_ values: [Double]) -> Double { percentile(values, 50) }

public func fmt(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }

/// The path of executable `name` beside this benchmark's own (the same build's products).
public func findExecutable(_ name: String) -> String {
    URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        .appendingPathComponent(name).path
}

/// A duration in seconds.
public func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// Runs `clients` closed loops of `operation(client, iteration)` for `seconds`; returns
/// completed operations per second.
public func rate(
    clients: Int,
    seconds duration: Double,
    _ operation: @escaping @Sendable (Int, Int) async throws -> Void
) async throws -> Double {
    let deadline = ContinuousClock.now + .milliseconds(Int64(duration * 1000))
    let start = ContinuousClock.now
    let total = try await withThrowingTaskGroup(of: Int.self) { group in
        for client in 0..<clients {
            group.addTask {
                var count = 0
                while ContinuousClock.now < deadline {
                    try await operation(client, count)
                    count += 1
                }
                return count
            }
        }
        var sum = 0
        for try await count in group { sum += count }
        return sum
    }
    return Double(total) / seconds(ContinuousClock.now - start)
}

/// A shared count of completed operations.
public final class Tally: Sendable {
    public let value = Atomic<Int>(0)
    public init() {}
}
