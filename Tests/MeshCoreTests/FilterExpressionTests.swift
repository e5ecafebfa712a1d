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

    @Test(
        "selectors are checked against the endpoint's type: a misspelt one is refused, not silently empty",
        arguments: [
            (#"Service.Tags contains "v1" and Node.Meta.rack == r1"#, nil),
            (#"Checks.Status == critical and Service.Proxy.Upstreams.DestinationName == db"#, nil),
            (#"Service.Weights.Passing == 1"#, nil),
            (#"Service.Nmae == web"#, "Service.Nmae"),
            (#"Service.Port == 1 or not Node.Metadata.rack == r1"#, "Node.Metadata.rack"),
            (#"Service.Tags.x == 1"#, "Service.Tags.x"),
            (#"Node.Meta.rack.row == 1"#, "Node.Meta.rack.row"),
            (#"Checks == x"#, nil),
            (#"Service.Weights.Both == 1"#, "Service.Weights.Both"),
        ] as [(String, String?)]
    )
    func checksSelectors(_ text: String, _ refused: String?) {
        do {
            _ = try FilterExpression(text, schema: .checkServiceNode)
            #expect(refused == nil)
        } catch {
            #expect(error.description == "Selector \"\(refused ?? "")\" is not valid")
        }
    }
}
