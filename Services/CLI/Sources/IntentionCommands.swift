public import ArgumentParser
import Foundation
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// `meshctl intention ...`: service-to-service authorization, like `consul intention`.
public struct IntentionCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "intention",
        abstract: "Create, delete, check and list intentions.",
        subcommands: [Create.self, Delete.self, Check.self, List.self]
    )

    public init() {}

    /// `SRC DST` as query parameters of the exact endpoints.
    static func query(_ source: String, _ destination: String) -> String {
        let allowed = CharacterSet.urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))
        let s = source.addingPercentEncoding(withAllowedCharacters: allowed) ?? source
        let d = destination.addingPercentEncoding(withAllowedCharacters: allowed) ?? destination
        return "source=\(s)&destination=\(d)"
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an intention from SRC to DST (allow unless -deny).",
            discussion: "Prints `Created: SRC => DST (action)`. An existing intention is an error unless -replace."
        )
        @OptionGroup var api: APIOptions
        @Flag(name: .customLong("allow", withSingleDash: true), help: "Allow (the default).") var allow = false
        @Flag(name: .customLong("deny", withSingleDash: true), help: "Deny.") var deny = false
        @Flag(name: .customLong("replace", withSingleDash: true), help: "Replace an existing intention.")
        var replace = false
        @Option(name: .customLong("description", withSingleDash: true), help: "A description.") var description: String?
        @Argument(help: "Source service (or *).") var source: String
        @Argument(help: "Destination service (or *).") var destination: String

        func validate() throws {
            if self.allow && self.deny { throw ValidationError("Only one of -allow or -deny may be specified.") }
        }

        func run() async throws {
            let action = self.deny ? "deny" : "allow"
            var body: [String: Any] = [
                "SourceName": self.source, "DestinationName": self.destination, "Action": action,
            ]
            if let description = self.description { body["Description"] = description }
            let summary = "\(self.source) => \(self.destination) (\(action))"
            do {
                if self.replace {
                    body["SourceName"] = nil
                    body["DestinationName"] = nil
                    _ = try await self.api.call(
                        .PUT,
                        "/v1/connect/intentions/exact?\(IntentionCommand.query(self.source, self.destination))",
                        body: try JSONSerialization.data(withJSONObject: body)
                    )
                } else {
                    _ = try await self.api.call(
                        .POST,
                        "/v1/connect/intentions",
                        body: try JSONSerialization.data(withJSONObject: body)
                    )
                }
            } catch let error as CLIError {
                throw CLIError("Error creating intention \"\(summary)\": \(error.description)")
            }
            print("Created: \(summary)")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete the intention from SRC to DST.")
        @OptionGroup var api: APIOptions
        @Argument(help: "Source service.") var source: String
        @Argument(help: "Destination service.") var destination: String

        func run() async throws {
            do {
                _ = try await self.api.call(
                    .DELETE,
                    "/v1/connect/intentions/exact?\(IntentionCommand.query(self.source, self.destination))"
                )
            } catch let error as CLIError {
                throw CLIError("Error deleting the intention: \(error.description)")
            }
            print("Intention deleted.")
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check whether SRC may connect to DST.",
            discussion: "Prints Allowed (exit 0) or Denied (exit 1); exit 2 on error, as consul intention check."
        )
        @OptionGroup var api: APIOptions
        @Argument(help: "Source service.") var source: String
        @Argument(help: "Destination service.") var destination: String

        func run() async throws {
            let allowed: Bool
            do {
                let data = try await self.api.call(
                    .GET,
                    "/v1/connect/intentions/check?\(IntentionCommand.query(self.source, self.destination))"
                )
                struct Answer: Decodable { var Allowed: Bool }
                allowed = try JSONDecoder().decode(Answer.self, from: data).Allowed
            } catch {
                let line = "Error checking the connection: \(error)\n"
                _ = line.withCString { write(2, $0, strlen($0)) }
                throw ExitCode(2)
            }
            print(allowed ? "Allowed" : "Denied")
            if !allowed { throw ExitCode(1) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List intentions, highest precedence first.")
        @OptionGroup var api: APIOptions

        struct Row: Decodable {
            var ID: String?
            var SourceName: String
            var DestinationName: String
            var Action: String?
            var Permissions: [AnyPermission]?
            var Precedence: Int
        }

        struct AnyPermission: Decodable {}

        func run() async throws {
            let data = try await self.api.call(.GET, "/v1/connect/intentions")
            let rows = try JSONDecoder().decode([Row].self, from: data)
            guard !rows.isEmpty else {
                let line = "There are no intentions.\n"
                _ = line.withCString { write(2, $0, strlen($0)) }
                throw ExitCode(2)
            }
            let table =
                [["ID", "Source", "Action", "Destination", "Precedence"]]
                + rows.map {
                    [
                        $0.ID ?? "", $0.SourceName,
                        ($0.Permissions?.isEmpty == false) ? "(L7)" : ($0.Action ?? ""),
                        $0.DestinationName, "\($0.Precedence)",
                    ]
                }
            let widths = (0..<5).map { column in table.map { $0[column].count }.max() ?? 0 }
            for row in table {
                let cells = row.enumerated().map { index, cell in
                    index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                }
                print(cells.joined(separator: "  "))
            }
        }
    }
}
