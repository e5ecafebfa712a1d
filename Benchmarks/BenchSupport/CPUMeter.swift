import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where the machine's CPU went during a measurement: the whole machine's busy share (from
/// `/proc/stat`) and the CPU time of named process groups (from `/proc/<pid>/stat`), so that a
/// rate can be read as "CPU per operation" per process. On a 2-core machine shared by the load
/// generator, the service and PostgreSQL, this is what explains a throughput ratio.
public struct CPUMeter: Sendable {
    /// A named set of processes: the roots given, and (when `withChildren`) their live children
    /// plus what their reaped children used (`cutime`/`cstime`).
    public struct Group: Sendable {
        public var name: String
        public var pids: [Int32]
        public var withChildren: Bool

        public init(_ name: String, pids: [Int32], withChildren: Bool = false) {
            self.name = name
            self.pids = pids
            self.withChildren = withChildren
        }
    }

    /// One reading.
    public struct Sample: Sendable {
        var busy: Double
        var total: Double
        var groups: [Double]
    }

    public var groups: [Group]
    private let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    public init(groups: [Group]) { self.groups = groups }

    public func sample() -> Sample {
        let (busy, total) = Self.machineTicks()
        return Sample(busy: busy, total: total, groups: self.groups.map(self.ticks(of:)))
    }

    /// "machine 97% busy; bench 120 µs/op, catalog-svc 310 µs/op, postgres 180 µs/op".
    public func report(from start: Sample, to end: Sample, operations: Int) -> String {
        let busy = end.total > start.total ? (end.busy - start.busy) / (end.total - start.total) * 100 : 0
        var parts = ["machine \(fmt(busy, 0))% busy"]
        for (index, group) in self.groups.enumerated() {
            let seconds = (end.groups[index] - start.groups[index]) / self.ticksPerSecond
            let perOperation = operations > 0 ? seconds / Double(operations) * 1e6 : 0
            parts.append("\(group.name) \(fmt(perOperation, 0)) µs/op")
        }
        return parts.joined(separator: ", ")
    }

    private func ticks(of group: Group) -> Double {
        var sum = 0.0
        for pid in group.pids {
            guard let fields = Self.statFields(pid) else { continue }
            sum += fields[0] + fields[1]
            if group.withChildren {
                sum += fields[2] + fields[3]
                for child in Self.children(of: pid) {
                    if let own = Self.statFields(child) { sum += own[0] + own[1] + own[2] + own[3] }
                }
            }
        }
        return sum
    }

    /// utime, stime, cutime, cstime of a process.
    private static func statFields(_ pid: Int32) -> [Double]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
        let rest = text[text.index(after: close)...].split(separator: " ")
        guard rest.count > 15 else { return nil }
        return rest[11...14].map { Double($0) ?? 0 }
    }

    private static func children(of parent: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry),
                let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = text.lastIndex(of: ")")
            else { return nil }
            let rest = text[text.index(after: close)...].split(separator: " ")
            return rest.count > 1 && Int32(rest[1]) == parent ? pid : nil
        }
    }

    private static func machineTicks() -> (busy: Double, total: Double) {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first
        else { return (0, 0) }
        let values = line.split(separator: " ").dropFirst().map { Double($0) ?? 0 }
        guard values.count >= 5 else { return (0, 0) }
        let total = values.prefix(8).reduce(0, +)
        let idle = values[3] + values[4]
        return (total - idle, total)
    }
}

/// `rate(clients:seconds:_:)` with where the CPU went while it ran.
public func rate(
    clients: Int,
    seconds duration: Double,
    cpu meter: CPUMeter,
    _ operation: @escaping @Sendable (Int, Int) async throws -> Void
) async throws -> (rate: Double, cpu: String) {
    let before = meter.sample()
    let start = ContinuousClock.now
    let perSecond = try await rate(clients: clients, seconds: duration, operation)
    let operations = Int(perSecond * seconds(ContinuousClock.now - start))
    return (perSecond, meter.report(from: before, to: meter.sample(), operations: operations))
}
