public import ArgumentParser
import Foundation
import MeshClient
import MeshCore
import MeshLocal
import NIOCore
import NIOHTTP1
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `meshctl lock PREFIX COMMAND`: runs COMMAND (with `sh -c`) while holding the lock on
/// `PREFIX/.lock`, as `consul lock` does with Consul's lock recipe: a session with a 15 s TTL
/// renewed every half TTL, a blocking read of the key until it is free, `?acquire=` with the
/// recipe's flag value. The lock is released when the command exits (its exit status is
/// meshctl's); if the lock is lost meanwhile, the command is terminated. SIGINT and SIGTERM are
/// passed to the command.
public struct LockCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Run a command while holding a lock in the KV store (consul lock)."
    )

    /// api/lock.go's mark on the keys it locks.
    static let lockFlagValue: UInt64 = 0x2ddc_cbc0_58a5_0c18

    @OptionGroup var api: APIOptions
    @Option(name: .customLong("name", withSingleDash: true), help: "The session's name.")
    var name = "Consul API Lock"
    @Option(name: .customLong("timeout", withSingleDash: true), help: "Give up after this long (0: wait forever).")
    var timeout = "0s"
    @Flag(name: .customLong("verbose", withSingleDash: true), help: "Say what the lock does.") var verbose = false
    @Argument(help: "The KV prefix; the lock is PREFIX/.lock.") var prefix: String
    @Argument(parsing: .captureForPassthrough, help: "The command, run with sh -c.") var command: [String] = []

    public init() {}

    public func validate() throws {
        guard !self.command.isEmpty else { throw ValidationError("Missing the command to run") }
        guard GoDuration.parse(self.timeout) != nil else { throw ValidationError("Invalid -timeout: \(self.timeout)") }
    }

    public func run() async throws {
        let key = self.prefix.hasSuffix("/") ? self.prefix + ".lock" : self.prefix + "/.lock"
        let path = KVCommand.path(key)
        let created = try await self.api.call(
            .PUT,
            "/v1/session/create",
            body: Data(JSONValue.object(["Name": .string(self.name), "TTL": .string("15s")]).serialized())
        )
        guard let session = (try JSONSerialization.jsonObject(with: created) as? [String: Any])?["ID"] as? String else {
            throw CLIError("Error! Cannot create a session: \(String(decoding: created, as: UTF8.self))")
        }
        self.say("Created session \(session)")
        let (api, verbose) = (self.api, self.verbose)
        let status: Int32
        do {
            status = try await withThrowingTaskGroup(of: Int32?.self) { group in
                group.addTask {
                    // Renew at half the TTL, as api/lock.go does.
                    while !Task.isCancelled {
                        try await Task.sleep(for: .milliseconds(7500))
                        _ = try await api.call(.PUT, "/v1/session/renew/\(session)")
                    }
                    return nil
                }
                let index = try await self.acquire(path, session: session)
                self.say("Lock acquired on \(key)")
                // The command shares our standard streams (stdin is /dev/null).
                let child = try Spawned.launch(
                    "/bin/sh",
                    ["-c", self.command.joined(separator: " ")],
                    outputPath: Spawned.inheritOutput
                )
                group.addTask {
                    // The lock is lost when the key no longer names the session: stop the command.
                    var index = index
                    while !Task.isCancelled {
                        let read = try await api.exchange(
                            .GET,
                            "\(path)?index=\(index)&wait=30s",
                            timeout: .seconds(60)
                        )
                        index = read.index ?? index
                        if read.status == 404 || !read.text.contains(session) {
                            Self.say("Lock lost, terminating the command", verbose: verbose)
                            kill(child.pid, SIGTERM)
                            return nil
                        }
                    }
                    return nil
                }
                group.addTask {
                    for await signal in await UnixSignalsSequence(trapping: .sigint, .sigterm) {
                        kill(child.pid, signal == .sigint ? SIGINT : SIGTERM)
                    }
                    return nil
                }
                let status = try await child.waitForExit()
                group.cancelAll()
                return status
            }
        } catch {
            _ = try? await self.api.call(.PUT, "/v1/session/destroy/\(session)")
            throw error
        }
        let release = "\(path)?release=\(session)&flags=\(Self.lockFlagValue)"
        _ = try? await self.api.exchange(.PUT, release, body: Data(), contentType: "application/octet-stream")
        _ = try? await self.api.call(.PUT, "/v1/session/destroy/\(session)")
        self.say("Lock released; the command exited with \(status)")
        if status != 0 { throw ExitCode(status) }
    }

    /// Consul's recipe: wait while someone holds the key, then try to acquire; a failed try on a
    /// free key is a lock-delay (retried after a pause). Returns the index of the acquired key.
    private func acquire(_ path: String, session: String) async throws -> String {
        let limit = GoDuration.parse(self.timeout) ?? .zero
        let deadline = limit == .zero ? nil : ContinuousClock.now + limit
        var index = "0"
        while true {
            if let deadline, ContinuousClock.now >= deadline { throw CLIError("Lock acquisition failed: timeout") }
            let read = try await self.api.exchange(.GET, "\(path)?index=\(index)&wait=15s", timeout: .seconds(60))
            guard read.status == 200 || read.status == 404 else { throw read.error }
            if read.status == 200, let entries = try JSONSerialization.jsonObject(with: read.body) as? [[String: Any]],
                let entry = entries.first
            {
                if let flags = entry["Flags"] as? NSNumber, flags.uint64Value != Self.lockFlagValue {
                    throw CLIError("Lock acquisition failed: existing key does not match lock use")
                }
                if entry["Session"] != nil {
                    index = read.index ?? index
                    continue
                }
            }
            let attempt = try await self.api.exchange(
                .PUT,
                "\(path)?acquire=\(session)&flags=\(Self.lockFlagValue)",
                body: Data(),
                contentType: "application/octet-stream"
            )
            guard attempt.status == 200 else { throw attempt.error }
            if attempt.text.trimmingCharacters(in: .whitespacesAndNewlines) == "true" {
                return try await self.api.exchange(.GET, path).index ?? "0"
            }
            // Free but refused: a lock-delay runs. api/lock.go waits 5 s; half a second is enough here.
            index = "0"
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    private func say(_ line: String) {
        Self.say(line, verbose: self.verbose)
    }

    private static func say(_ line: String, verbose: Bool) {
        if verbose { FileHandle.standardError.write(Data("meshctl lock: \(line)\n".utf8)) }
    }
}
