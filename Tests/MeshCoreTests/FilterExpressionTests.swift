import MeshCore
import Testing

@Suite("Filter expressions (Consul's ?filter=)")
struct FilterExpressionTests {
    /// A health entry as `/v1/health/service/:name` answers it.
    let entry: JSONValue = .object([
        "Node": .object(["Node": .string("db-1"), "Meta": .object(["rack": .string("r1")])]),
        "Service": .object([
            "Service": .string("web"), "Tags": .array([.string("v1"), .string("primary")]), "Port": .number(8080),
            "Meta": .object([:]), "Address": .string(""),
        ]),
        "Checks": .array([
            .object(["CheckID": .string("serfHealth"), "Status": .string("passing")]),
            .object(["CheckID": .string("web-ttl"), "Status": .string("critical")]),
        ]),
    ])

    @Test(
        "operators, selectors and logic evaluate as go-bexpr does",
        arguments: [
            (#"Service.Tags contains "v1""#, true),
            (#"Service.Tags contains v2"#, false),
            (#""primary" in Service.Tags"#, true),
            (#"v2 not in Service.Tags"#, true),
            (#"Service.Port == 8080"#, true),
            (#"Service.Port != 8080"#, false),
            (#"Node.Meta.rack == "r1" and Service.Service == web"#, true),
            (#"Node.Meta["rack"] == "r2" or Service.Service == "api""#, false),
            (#"not (Service.Service == "api")"#, true),
            (#"Service.Meta is empty"#, true),
            (#"Service.Address is not empty"#, false),
            (#"Node.Node matches "^db-[0-9]+$""#, true),
            (#"Node.Node not matches "^web""#, true),
            (#"Checks.Status == critical"#, true),
            (#"Checks.Status != passing"#, false),
            (#"Node.Meta contains rack"#, true),
            (#"Nothing.Here == "x""#, false),
            (#"Service.Tags contains "v1" and not Checks.Status == critical or Service.Port == 8080"#, true),
        ]
    )
    func evaluates(_ text: String, _ expected: Bool) throws {
        #expect(try FilterExpression(text).matches(self.entry) == expected)
    }

    @Test(
        "malformed filters are refused with a reason",
        arguments: [
            "Service.Tags contains",
            "Service.Port ==",
            "== 1",
            "(Service.Port == 1",
            "Service.Port = 1",
            #"Service.Name matches "(""#,
            #"Service.Name == "unterminated"#,
            "Service.Port == 1 Service.Port == 2",
            "Service. == 1",
            "Service.Name is full",
        ]
    )
    func refuses(_ text: String) {
        #expect(throws: FilterError.self) { try FilterExpression(text) }
    }
}
