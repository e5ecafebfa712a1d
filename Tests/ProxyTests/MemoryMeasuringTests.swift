import Testing

/// The suites that measure this process's resident memory (the proxies' buffering under
/// backpressure, the fuzzers' growth) run one at a time: another's allocations would count as
/// theirs (a concurrent fuzzer's +100 MiB failed the HTTP/2 backpressure bound once in CI).
@Suite(.serialized) struct MemoryMeasuringTests {}
