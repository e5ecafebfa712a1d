#if canImport(Glibc)
import Glibc
#endif

/// Keeps the proxy's resident set to the code it really runs.
///
/// Start-up (the loader, the Swift runtime's metadata scans, argument parsing, TLS set-up) touches
/// much of a large static binary's code, and the kernel maps file pages around every fault
/// (fault-around, 64 KiB); those pages then count in the process's RSS for its whole life,
/// although the data path uses a small part of them. Once started, the proxy marks its
/// executable code `MADV_RANDOM` (no fault-around or read-ahead) and drops it from its page
/// tables (`MADV_DONTNEED`): code pages are never written, so the ones used fault back in from
/// the page cache, one by one. Only `r-xp` mappings are touched: relocated data must stay.
/// (Measured by Benchmarks/proxy-pair.sh; docs/BENCHMARKS.md.)
public enum ResidentFootprint {
    public static func trimExecutableMappings() {
        #if os(Linux)
        guard let executable = Self.readLink("/proc/self/exe"),
            let maps = Self.readFile("/proc/self/maps")
        else { return }
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "r-xp", fields[5...].joined(separator: " ") == executable
            else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
                end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start)
            else { continue }
            _ = madvise(pointer, Int(end - start), MADV_RANDOM)
            _ = madvise(pointer, Int(end - start), MADV_DONTNEED)
        }
        #endif
    }

    /// Hands free heap pages back to the kernel (`malloc_trim`): a burst of connections leaves
    /// freed buffers in the allocator's arenas that otherwise stay resident after the burst.
    public static func returnFreeHeap() {
        #if os(Linux)
        _ = Self.mallocTrim?(0)
        #endif
    }

    /// glibc's `malloc_trim` (its header is not part of the Glibc module).
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        guard let symbol = dlsym(nil, "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()

    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
