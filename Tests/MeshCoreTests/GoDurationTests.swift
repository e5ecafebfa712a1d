import MeshCore
import Testing

@Suite("Go durations")
struct GoDurationTests {
    @Test(
        "parses Consul's duration strings",
        arguments: [
            ("10s", Duration.seconds(10)), ("1m30s", .seconds(90)), ("250ms", .milliseconds(250)),
            ("1.5h", .seconds(5400)), ("0", .zero), ("2h45m", .seconds(9900)), ("100us", .microseconds(100)),
        ]
    )
    func parses(text: String, expected: Duration) {
        #expect(GoDuration.parse(text) == expected)
    }

    @Test("rejects what Go rejects", arguments: ["", "10", "s", "1x", "-5s", "1.2.3s", "abc"])
    func rejects(text: String) {
        #expect(GoDuration.parse(text) == nil)
    }

    @Test(
        "formats like time.Duration.String()",
        arguments: [
            (Duration.seconds(10), "10s"), (.seconds(90), "1m30s"), (.milliseconds(500), "500ms"),
            (.zero, "0s"), (.seconds(3600), "1h0m0s"), (.milliseconds(1500), "1.5s"),
        ]
    )
    func formats(duration: Duration, expected: String) {
        #expect(GoDuration.format(duration) == expected)
    }
}

@Suite("Blocking query parameters")
struct BlockingQueryTests {
    @Test("index 0 answers at once")
    func immediate() {
        let query = BlockingQuery.make(index: 0, wait: .seconds(30))
        #expect(!query.isBlocking)
        #expect(query.maxWait == .zero)
    }

    @Test("wait defaults to 5 minutes and is capped at 10, plus up to 1/16 jitter")
    func defaultsAndCap() {
        #expect(BlockingQuery.make(index: 5, wait: nil, jitter: { _ in 0 }).maxWait == .seconds(300))
        #expect(BlockingQuery.make(index: 5, wait: .seconds(3600), jitter: { _ in 0 }).maxWait == .seconds(600))
        let jittered = BlockingQuery.make(index: 5, wait: .seconds(16), jitter: { $0 })
        #expect(jittered.maxWait == .seconds(17))
        for _ in 0..<50 {
            let random = BlockingQuery.make(index: 5, wait: .seconds(16))
            #expect(random.maxWait >= .seconds(16) && random.maxWait <= .seconds(17))
        }
    }
}

@Suite("Registration validation")
struct RegistrationValidatorTests {
    @Test("fills Consul's defaults")
    func defaults() throws {
        let registration = Registration(
            node: CatalogNode(name: "n1", address: "10.0.0.1"),
            service: ServiceInstance(node: "", id: "", name: "web", tags: ["v1"]),
            checks: [HealthCheck(node: "", checkID: "", name: "alive", serviceID: "web")]
        )
        let valid = try RegistrationValidator.validate(registration)
        #expect(valid.service?.id == "web")
        #expect(valid.service?.node == "n1")
        #expect(valid.checks[0].checkID == "alive")
        #expect(valid.checks[0].serviceName == "web")
        #expect(valid.checks[0].serviceTags == ["v1"])
        #expect(valid.checks[0].status == .critical)
    }

    @Test(
        "names the offending field",
        arguments: [
            (Registration(node: CatalogNode(name: "", address: "1.2.3.4")), "Node"),
            (Registration(node: CatalogNode(name: "n", address: "")), "Address"),
            (
                Registration(
                    node: CatalogNode(name: "n", address: "a"),
                    service: ServiceInstance(node: "", id: "x", name: "")
                ), "Service.Service"
            ),
            (
                Registration(
                    node: CatalogNode(name: "n", address: "a"),
                    service: ServiceInstance(node: "", id: "x", name: "s", port: 70000)
                ), "Service.Port"
            ),
            (
                Registration(
                    node: CatalogNode(name: "n", address: "a"),
                    checks: [HealthCheck(node: "", checkID: "", name: "")]
                ), "Checks[0].CheckID"
            ),
        ]
    )
    func rejects(registration: Registration, field: String) {
        #expect(throws: ValidationError.self) { try RegistrationValidator.validate(registration) }
        do {
            _ = try RegistrationValidator.validate(registration)
        } catch {
            #expect(error.field == field)
        }
    }

    @Test("skipping the node update does not need an address")
    func skipNodeUpdate() throws {
        let registration = Registration(node: CatalogNode(name: "n", address: ""), skipNodeUpdate: true)
        #expect(try RegistrationValidator.validate(registration).node.name == "n")
    }

    @Test("the worst check decides an instance's status")
    func aggregate() {
        let node = CatalogNode(name: "n", address: "a")
        let service = ServiceInstance(node: "n", id: "s", name: "s")
        var health = ServiceHealth(node: node, service: service, checks: [])
        #expect(health.aggregateStatus == .passing)
        health.checks = [
            HealthCheck(node: "n", checkID: "a", name: "a", status: .passing),
            HealthCheck(node: "n", checkID: "b", name: "b", status: .warning),
        ]
        #expect(health.aggregateStatus == .warning)
        health.checks.append(HealthCheck(node: "n", checkID: "c", name: "c", status: .critical))
        #expect(health.aggregateStatus == .critical)
    }
}
