import Foundation
import MeshRPC
import MeshTesting

#if canImport(Glibc)
import Glibc
#endif

/// A `meshctl dev` started for one test, with a known management token; stopped by PID after.
struct RunningDev {
    let process: Spawned
    /// `127.0.0.1:<port>`, its one REST address.
    let address: String
    /// What it printed up to "ready" (the services' addresses, the dev CA's path).
    let output: String
    /// Where it prints (``currentOutput`` reads it again).
    let logPath: String
    /// Everything it printed so far.
    var currentOutput: String { (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? "" }
    var api: TestAPI { TestAPI(HostPort(parsing: self.address)!) }

    static func with<T>(
        token: String,
        arguments: [String] = [],
        _ body: (RunningDev) async throws -> T
    ) async throws -> T {
        let port = try FreePort.pick()
        let log = NSTemporaryDirectory() + "meshctl-dev-\(port)-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { unlink(log) }
        let process = try Spawned.launch(
            builtExecutable("meshctl"),
            ["dev", "--http-addr", "127.0.0.1:\(port)", "--initial-management-token", token] + arguments,
            outputPath: log
        )
        defer { process.stop() }
        let deadline = ContinuousClock.now + .seconds(120)
        var text = ""
        while !text.contains("ready: Consul-compatible API") {
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw TestFailure("meshctl dev did not become ready: \(text)")
            }
            try await Task.sleep(for: .milliseconds(100))
            text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        }
        return try await body(
            RunningDev(process: process, address: "127.0.0.1:\(port)", output: text, logPath: log)
        )
    }

    /// Runs one of the built executables to completion with changed environment variables (nil
    /// removes one); returns its status and output.
    static func run(
        _ executable: String,
        _ arguments: [String],
        environment extra: [String: String?] = [:]
    ) async throws -> (status: Int32, output: String) {
        let output = NSTemporaryDirectory() + "\(executable)-run-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { unlink(output) }
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in extra { environment[key] = value }
        let child = try Spawned.launch(
            builtExecutable(executable),
            arguments,
            environment: environment,
            outputPath: output
        )
        let status = try await child.waitForExit()
        return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }
}
