public import ArgumentParser

extension AsyncParsableCommand {
    /// A `main.swift`'s one line, for every executable: parses the command line and runs the
    /// command; a parse or usage error is printed with the help, any other error as one line
    /// (`Error: <description>`, never a stack trace), and the process ends as ArgumentParser
    /// does (status 1, or the `ExitCode` thrown).
    public static func runAsMain() async {
        do {
            var command = try Self.parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            Self.exit(withError: error)
        }
    }
}
