public import ArgumentParser
import Foundation
import MeshClient
import NIOHTTP1

/// `meshctl kv get|put|delete|export|import`: the KV store, with `consul kv`'s flags and output.
public struct KVCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kv",
        abstract: "Read and write the KV store.",
        subcommands: [Get.self, Put.self, Delete.self, Export.self, Import.self]
    )

    public init() {}

    static func path(_ key: String) -> String {
        "/v1/kv/"
            + key.split(separator: "/", omittingEmptySubsequences: false).map { ConsulAPI.escape(String($0)) }
            .joined(separator: "/")
    }

    /// An entry as the API answers it.
    struct Entry: Codable {
        var Key: String
        var Flags: UInt64
        var Value: String?
        var Session: String?
        var LockIndex: UInt64
        var CreateIndex: UInt64
        var ModifyIndex: UInt64

        var bytes: Data { self.Value.flatMap { Data(base64Encoded: $0) } ?? Data() }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a key's value (-recurse: every key:value under a prefix; -keys: the keys)."
        )
        @OptionGroup var api: APIOptions
        @Flag(name: .customLong("recurse", withSingleDash: true), help: "Every key under the prefix.") var recurse =
            false
        @Flag(name: .customLong("keys", withSingleDash: true), help: "List the keys under the prefix.") var keys = false
        @Option(name: .customLong("separator", withSingleDash: true), help: "With -keys, list up to it (default /).")
        var separator = "/"
        @Flag(name: .customLong("detailed", withSingleDash: true), help: "Show every field of each entry.")
        var detailed = false
        @Flag(name: .customLong("base64", withSingleDash: true), help: "Print values base64-encoded.") var base64 =
            false
        @Argument(help: "The key (or prefix).") var key = ""

        func run() async throws {
            if self.keys {
                let separator = self.separator.isEmpty ? "" : "&separator=\(ConsulAPI.escape(self.separator))"
                let answer = try await self.api.exchange(.GET, KVCommand.path(self.key) + "?keys" + separator)
                guard answer.status != 404 else { return }
                guard answer.status == 200 else { throw answer.error }
                for key in try JSONDecoder().decode([String].self, from: answer.body) { print(key) }
                return
            }
            guard self.recurse || !self.key.isEmpty else { throw CLIError("Error! Missing KEY argument") }
            let answer = try await self.api.exchange(.GET, KVCommand.path(self.key) + (self.recurse ? "?recurse" : ""))
            if answer.status == 404 {
                if self.recurse { return }
                throw CLIError("Error! No key exists at: \(self.key)")
            }
            guard answer.status == 200 else { throw answer.error }
            let entries = try JSONDecoder().decode([Entry].self, from: answer.body)
            for (position, entry) in entries.enumerated() {
                let value =
                    self.base64 ? entry.bytes.base64EncodedString() : String(decoding: entry.bytes, as: UTF8.self)
                if self.detailed {
                    if position > 0 { print("") }
                    for (name, field) in [
                        ("CreateIndex", "\(entry.CreateIndex)"), ("Flags", "\(entry.Flags)"), ("Key", entry.Key),
                        ("LockIndex", "\(entry.LockIndex)"), ("ModifyIndex", "\(entry.ModifyIndex)"),
                        ("Session", entry.Session ?? "-"), ("Value", value),
                    ] {
                        print(name.padding(toLength: 16, withPad: " ", startingAt: 0) + field)
                    }
                } else {
                    print(self.recurse ? "\(entry.Key):\(value)" : value)
                }
            }
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Write a value (\"-\" reads stdin, @file a file); -cas, -acquire and -release as in consul kv put."
        )
        @OptionGroup var api: APIOptions
        @Option(name: .customLong("flags", withSingleDash: true), help: "Flags stored with the value.") var flags:
            UInt64?
        @Flag(name: .customLong("cas", withSingleDash: true), help: "Check-and-set with -modify-index.") var cas = false
        @Option(
            name: .customLong("modify-index", withSingleDash: true),
            help: "The index for -cas (0: only if absent)."
        )
        var modifyIndex: UInt64 = 0
        @Flag(name: .customLong("acquire", withSingleDash: true), help: "Acquire the key's lock for -session.")
        var acquire = false
        @Flag(name: .customLong("release", withSingleDash: true), help: "Release the key's lock held by -session.")
        var release = false
        @Option(name: .customLong("session", withSingleDash: true), help: "The session for -acquire or -release.")
        var session: String?
        @Flag(name: .customLong("base64", withSingleDash: true), help: "The value is base64-encoded.") var base64 =
            false
        @Argument(help: "The key.") var key: String
        @Argument(help: "The value (empty when left out).") var value: String?

        func validate() throws {
            if (self.acquire || self.release) && self.session == nil {
                throw ValidationError("-acquire and -release need -session")
            }
        }

        func run() async throws {
            var data = try KVCommand.read(self.value ?? "")
            if self.base64 {
                guard let decoded = Data(base64Encoded: data) else {
                    throw CLIError("Error! Cannot base 64 decode data")
                }
                data = decoded
            }
            var query: [String] = []
            if let flags = self.flags { query.append("flags=\(flags)") }
            if self.cas { query.append("cas=\(self.modifyIndex)") }
            if let session = self.session {
                if self.acquire { query.append("acquire=\(ConsulAPI.escape(session))") }
                if self.release { query.append("release=\(ConsulAPI.escape(session))") }
            }
            let path = KVCommand.path(self.key) + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
            let answer = try await self.api.exchange(.PUT, path, body: data, contentType: "application/octet-stream")
            guard answer.status == 200 else { throw answer.error }
            guard answer.text.trimmingCharacters(in: .whitespacesAndNewlines) == "true" else {
                let reason = self.cas ? "CAS failed" : (self.acquire ? "lock acquisition failed" : "release failed")
                throw CLIError("Error! Did not write to \(self.key): \(reason)")
            }
            if self.acquire {
                print("Success! Lock acquired on: \(self.key)")
            } else if self.release {
                print("Success! Lock released on: \(self.key)")
            } else {
                print("Success! Data written to: \(self.key)")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a key (-recurse: every key under a prefix).")
        @OptionGroup var api: APIOptions
        @Flag(name: .customLong("recurse", withSingleDash: true), help: "Every key under the prefix.") var recurse =
            false
        @Flag(name: .customLong("cas", withSingleDash: true), help: "Check-and-set with -modify-index.") var cas = false
        @Option(name: .customLong("modify-index", withSingleDash: true), help: "The index for -cas.")
        var modifyIndex: UInt64 = 0
        @Argument(help: "The key (or prefix).") var key = ""

        func validate() throws {
            if self.recurse && self.cas { throw ValidationError("Cannot specify both -cas and -recurse!") }
            if !self.recurse && self.key.isEmpty { throw ValidationError("Missing KEY argument") }
        }

        func run() async throws {
            var query = self.recurse ? "?recurse" : ""
            if self.cas { query = "?cas=\(self.modifyIndex)" }
            let answer = try await self.api.exchange(.DELETE, KVCommand.path(self.key) + query)
            guard answer.status == 200 else { throw answer.error }
            guard answer.text.trimmingCharacters(in: .whitespacesAndNewlines) == "true" else {
                throw CLIError("Error! Did not delete key \(self.key): CAS failed")
            }
            print(self.recurse ? "Success! Deleted keys with prefix: \(self.key)" : "Success! Deleted key: \(self.key)")
        }
    }

    /// One key as `consul kv export` writes it and `consul kv import` reads it.
    struct Exported: Codable {
        var key: String
        var flags: UInt64
        var value: String
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the keys under a prefix as JSON (key, flags, base64 value), as consul kv export."
        )
        @OptionGroup var api: APIOptions
        @Argument(help: "The prefix (default: everything).") var prefix = ""

        func run() async throws {
            let answer = try await self.api.exchange(.GET, KVCommand.path(self.prefix) + "?recurse")
            var exported: [Exported] = []
            if answer.status == 200 {
                exported = try JSONDecoder().decode([Entry].self, from: answer.body).map {
                    Exported(key: $0.Key, flags: $0.Flags, value: $0.Value ?? "")
                }
            } else if answer.status != 404 {
                throw answer.error
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(exported), as: UTF8.self))
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the keys of a consul kv export (the argument, \"-\" for stdin, or @file)."
        )
        @OptionGroup var api: APIOptions
        @Option(name: .customLong("prefix", withSingleDash: true), help: "Prepended to every key.") var prefix = ""
        @Argument(help: "The exported JSON, - or @file.") var data: String

        func run() async throws {
            let entries: [Exported]
            do {
                entries = try JSONDecoder().decode([Exported].self, from: try KVCommand.read(self.data))
            } catch let error as CLIError {
                throw error
            } catch {
                throw CLIError("Error! Cannot unmarshal data: \(error)")
            }
            for entry in entries {
                guard let value = Data(base64Encoded: entry.value) else {
                    throw CLIError("Error! Cannot base 64 decode value of key \(entry.key)")
                }
                let key = self.prefix + entry.key
                let path = KVCommand.path(key) + "?flags=\(entry.flags)"
                let answer = try await self.api.exchange(
                    .PUT,
                    path,
                    body: value,
                    contentType: "application/octet-stream"
                )
                guard answer.status == 200 else { throw answer.error }
                print("Imported: \(key)")
            }
        }
    }

    /// A value argument as consul reads it: `-` is stdin, `@path` a file's contents, else the text.
    static func read(_ argument: String) throws -> Data {
        if argument == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        if argument.hasPrefix("@") {
            let path = String(argument.dropFirst())
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CLIError("Error! Failed to read file: \(path)")
            }
            return data
        }
        return Data(argument.utf8)
    }
}
