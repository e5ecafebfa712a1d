import Foundation
import MeshTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DevTests {
    /// `meshctl dev` behaves like ECS (issue 18): a control-plane process or PostgreSQL that
    /// dies is started again, and the data plane does not notice meanwhile.
    @Suite("meshctl dev: dead processes are replaced", .timeLimit(.minutes(6)))
    struct Supervision {
        /// The PID `meshctl dev` printed for `what` (`"catalog-svc runs as"`, `"PostgreSQL on"`).
        static func pid(of what: String, in output: String) throws -> pid_t {
            let line = try #require(output.split(separator: "\n").last { $0.contains(what) })
            let range = try #require(line.range(of: "pid "))
            return try #require(pid_t(line[range.upperBound...].prefix(while: \.isNumber)))
        }

        /// Before the fix, any child that exited stopped `meshctl dev` altogether.
        @Test("a killed service is replaced on its ports and PostgreSQL restarted, acknowledged writes kept")
        func servicesAndDatabaseComeBack() async throws {
            let token = UUID().uuidString.lowercased()
            try await RunningDev.with(token: token) { dev in
                let api = {
                    var api = dev.api; api.token = token; return api
                }()
                #expect(try await api.put("/v1/kv/supervision/before", text: "one").text == "true")

                let catalog = try Self.pid(of: "catalog-svc runs as", in: dev.output)
                kill(catalog, SIGKILL)
                try await eventually(within: .seconds(60), "catalog-svc replaced") {
                    dev.currentOutput.contains("catalog-svc (pid \(catalog)) stopped: killed by signal 9")
                        && dev.currentOutput.contains("catalog-svc replaced and ready")
                }
                #expect(dev.process.isRunning)
                try await eventually(within: .seconds(30), "the replacement serves the kept write") {
                    (try? await api.get("/v1/kv/supervision/before?raw").text) == "one"
                }

                let postgres = try Self.pid(of: "PostgreSQL on", in: dev.output)
                kill(postgres, SIGKILL)
                try await eventually(within: .seconds(90), "PostgreSQL running again") {
                    dev.currentOutput.contains("PostgreSQL running again")
                }
                // The services reconnect on their own: a new write goes through, the old one is there.
                try await eventually(within: .seconds(60), "writes to go through again") {
                    (try? await api.put("/v1/kv/supervision/after", text: "two").text) == "true"
                }
                #expect(try await api.get("/v1/kv/supervision/before?raw").text == "one")
                #expect(try await api.get("/v1/kv/supervision/after?raw").text == "two")
                #expect(dev.process.isRunning)
            }
        }

        /// Static stability: with every control-plane process and PostgreSQL killed at once, the
        /// demo's client keeps getting answers from its servers (the proxies and agents hold what
        /// they last had); once everything is back, changes flow again (a deny applies).
        @Test("every control-plane process and PostgreSQL killed: the demo's calls keep succeeding")
        func staticStability() async throws {
            let token = UUID().uuidString.lowercased()
            try await RunningDev.with(token: token, arguments: ["--demo"]) { dev in
                let (upstream, _) = try DevDemoTests.parse(dev.output)
                #expect(await DevDemoTests.call(upstream) != nil)
                var killed: [pid_t] = [try Self.pid(of: "PostgreSQL on", in: dev.output)]
                for service in ["catalog-svc", "authz-svc", "ca-svc", "iam-auth-svc", "config-distributor"] {
                    killed.append(try Self.pid(of: "\(service) runs as", in: dev.output))
                }
                for pid in killed { kill(pid, SIGKILL) }
                // Calls made while the control plane is down or coming back: all answered.
                var failed = 0
                var calls = 0
                let until = ContinuousClock.now + .seconds(15)
                while ContinuousClock.now < until {
                    calls += 1
                    if await DevDemoTests.call(upstream) == nil { failed += 1 }
                }
                #expect(failed == 0, "\(failed) of \(calls) calls failed with the control plane down")
                print("static stability: \(calls) calls over 15 s with the control plane killed, \(failed) failed")
                try await eventually(within: .seconds(90), "every service replaced") {
                    let output = dev.currentOutput
                    return ["catalog-svc", "authz-svc", "ca-svc", "iam-auth-svc", "config-distributor"].allSatisfy {
                        output.contains("\($0) replaced and ready")
                    } && output.contains("PostgreSQL running again")
                }
                // Changes flow again: a deny reaches the proxies, and its removal restores service.
                try await eventually(within: .seconds(60), "a deny intention to be written") {
                    (try? await DevDemoTests.meshctl(
                        ["intention", "create", "-deny", "http-client", "http-server"],
                        dev: dev,
                        token: token
                    )) == 0
                }
                try await eventually(within: .seconds(60), "the deny to apply") {
                    await DevDemoTests.call(upstream) == nil
                }
                #expect(
                    try await DevDemoTests.meshctl(
                        ["intention", "delete", "http-client", "http-server"],
                        dev: dev,
                        token: token
                    ) == 0
                )
                try await eventually(within: .seconds(60), "service to return") {
                    await DevDemoTests.call(upstream) != nil
                }
                #expect(dev.process.isRunning)
            }
        }
    }
}
