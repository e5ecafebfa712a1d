import Testing

/// The suites that start a whole `meshctl dev`. They run one at a time: each dev instance picks
/// free loopback ports for its services, and two picking at once could collide.
@Suite("meshctl dev", .serialized)
struct DevTests {}
