import Logging

/// Logging setup shared by every executable: one line per event to stderr, level from
/// `MESH_LOG_LEVEL` (default info).
public enum MeshLogging {
    public static func bootstrap(environment: [String: String]) {
        let level = environment["MESH_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
