import ArgumentParser
import CLI

#if canImport(Glibc)
import Glibc
#endif

/// Runs an async subcommand (the existential is opened so that the async `run` is chosen).
func runAsync<Command: AsyncParsableCommand>(_ command: Command) async throws {
    var command = command
    try await command.run()
}

// Errors are one line on stderr, never a stack trace.
do {
    var command = try MeshCTL.parseAsRoot()
    if let asyncCommand = command as? any AsyncParsableCommand {
        try await runAsync(asyncCommand)
    } else {
        try command.run()
    }
} catch let error as CLIError {
    let line = "Error: \(error.description)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(1)
} catch {
    MeshCTL.exit(withError: error)
}
