import Foundation
import MeshLocal

/// Finds our other executables next to `meshctl`.
enum Executables {
    /// The path of another executable of ours next to this one.
    static func sibling(_ name: String) throws -> String {
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let path = me.deletingLastPathComponent().appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw CLIError("\(name) not found next to meshctl (\(path)); run swift build first")
        }
        return path
    }
}
