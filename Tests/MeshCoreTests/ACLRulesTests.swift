import MeshCore
import Testing

@Suite("HCL parser")
struct HCLParserTests {
    @Test("comments, quoted keys and nested blocks")
    func blocksAndComments() throws {
        let text = """
            # a hash comment
            service "web" {
              policy = "read" // trailing comment
            }
            /* a block
               comment */
            "key_prefix" "" { policy = "write", }
            outer { inner { deep = true } }
            """
        let document = try HCLParser.parse(text)
        #expect(document["service"]?["web"]?["policy"]?.stringValue == "read")
        #expect(document["key_prefix"]?[""]?["policy"]?.stringValue == "write")
        #expect(document["outer"]?["inner"]?["deep"]?.boolValue == true)
        #expect(document.members?.map(\.key) == ["service", "key_prefix", "outer"])
        #expect(document.members?.first?.keyPosition == HCLPosition(line: 2, column: 1))
        #expect(document["service"]?["web"]?["policy"]?.position == HCLPosition(line: 3, column: 12))
    }

    @Test("repeated blocks of one type accumulate")
    func repeatedBlocks() throws {
        let document = try HCLParser.parse(#"service "a" { policy = "read" } service "b" { policy = "write" }"#)
        let services = document.members(named: "service")
        #expect(services.count == 2)
        #expect(services.map { $0.value.members?.first?.key } == ["a", "b"])
    }

    @Test("heredocs, plain and indented")
    func heredocs() throws {
        let text = """
            plain = <<EOF
            line one
              line two
            EOF
            indented = <<-EOT
                first
                  second
                EOT
            after = 1
            """
        let document = try HCLParser.parse(text)
        #expect(document["plain"]?.stringValue == "line one\n  line two\n")
        #expect(document["indented"]?.stringValue == "first\n  second\n")
        #expect(document["after"]?.numberValue == 1)
    }

    @Test("literals: escapes, numbers, booleans, lists and objects")
    func literals() throws {
        let text = #"""
            s = "a\"b\\c\n\t\u00e9"
            n = -12.5e1
            h = 0x1F
            t = true
            f = false
            l = ["x", 2, [true],]
            o = { a = "1", "b" = 2 }
            """#
        let document = try HCLParser.parse(text)
        #expect(document["s"]?.stringValue == "a\"b\\c\n\t\u{e9}")
        #expect(document["n"]?.numberValue == -125)
        #expect(document["h"]?.numberValue == 31)
        #expect(document["t"]?.boolValue == true)
        #expect(document["f"]?.boolValue == false)
        let list = try #require(document["l"]?.listValue)
        #expect(list.count == 3)
        #expect(list[0].stringValue == "x")
        #expect(list[1].numberValue == 2)
        #expect(list[2].listValue?.first?.boolValue == true)
        #expect(document["o"]?["a"]?.stringValue == "1")
        #expect(document["o"]?["b"]?.numberValue == 2)
    }

    @Test("CRLF line endings, JSON surrogate pairs and \\U escapes")
    func lineEndingsAndUnicode() throws {
        let document = try HCLParser.parse("a = \"\\ud83d\\ude00\"\r\nb = \"\\U0001F600\"\r\nc = <<EOF\r\nx\r\nEOF\r\n")
        #expect(document["a"]?.stringValue == "\u{1F600}")
        #expect(document["b"]?.stringValue == "\u{1F600}")
        #expect(document["c"]?.stringValue == "x\n")
        #expect(document.members?[1].keyPosition == HCLPosition(line: 2, column: 1))
        #expect(throws: HCLError("unexpected character '@'", at: HCLPosition(line: 4, column: 5))) {
            try HCLParser.parse("a = 1\r\nb = 2\r\n\r\nc = @")
        }
    }

    @Test("a whole-document JSON object")
    func json() throws {
        let document = try HCLParser.parse(#"{"service": {"web": {"policy": "read"}}, "acl": "write", "x": null}"#)
        #expect(document["service"]?["web"]?["policy"]?.stringValue == "read")
        #expect(document["acl"]?.stringValue == "write")
        #expect(document["x"]?.kind == .null)
        #expect(document.position == HCLPosition(line: 1, column: 1))
    }

    @Test("an empty or comment-only document is an empty object")
    func empty() throws {
        #expect(try HCLParser.parse("").members == [])
        #expect(try HCLParser.parse("  # nothing\n// here\n").members == [])
    }

    @Test(
        "syntax errors point at the offending token",
        arguments: [
            ("node \"a\" {\n  policy 5\n}", 2, 10, "expected '=' or '{' after key \"policy\""),
            ("service \"web\" {\n  policy \"read\"\n}", 3, 1, "expected '{' after key \"policy\" \"read\""),
            ("service \"web\" {\n  policy = read\n}", 2, 12, "expected a value, found 'read' (strings must be quoted)"),
            ("service \"web\" = {}", 1, 15, "expected '{' after key \"service\" \"web\""),
            ("acl = \"write", 1, 7, "unterminated string"),
            ("x = \"a\\qb\"", 1, 7, "invalid escape sequence '\\q'"),
            ("ok = 1\n/* never closed", 2, 1, "unterminated /* comment"),
            ("service \"web\" {\n  policy = \"read\"\n", 3, 1, "expected '}' to close the '{' at line 1, column 15"),
            ("{\"a\": 1} b", 1, 10, "unexpected 'b' after the document's closing '}'"),
            ("l = [1 2]", 1, 8, "expected ',' or ']' in the list, found number 2"),
            ("x = <<EOF\nbody\n", 1, 5, "unterminated heredoc: no line EOF ends it"),
            ("x = 1\n  = 2", 2, 3, "expected a key, found '='"),
            ("a = 1\nb = @", 2, 5, "unexpected character '@'"),
        ]
    )
    func errors(text: String, line: Int, column: Int, message: String) {
        #expect(throws: HCLError(message, at: HCLPosition(line: line, column: column))) {
            try HCLParser.parse(text)
        }
    }

    @Test("errors describe themselves with their position")
    func errorDescription() {
        let error = HCLError("expected '=' or '{' after key \"policy\"", at: HCLPosition(line: 3, column: 12))
        #expect(error.description == "line 3, column 12: expected '=' or '{' after key \"policy\"")
    }
}

@Suite("ACL rules")
struct ACLRulesTests {
    private static let hclPolicy = """
        # Service and node access for the web tier.
        service "web" {
          policy     = "write"
          intentions = "read"
        }
        service_prefix "" { policy = "read" }
        node_prefix "web-" {
          policy = "write"
        }
        key_prefix "config/" { policy = "list" }
        key "config/secret" { policy = "deny" }
        agent "n1" { policy = "read" }
        session_prefix "" { policy = "write" }
        event "deploy" { policy = "write" }
        query_prefix "" { policy = "read" }
        operator = "read"
        mesh = "write"
        peering = "deny"
        keyring = "read"
        acl = "read"
        """

    private static var expected: ACLRules {
        var rules = ACLRules()
        rules.services = ACLRuleSet(
            exact: ["web": ACLRule(policy: .write, intentions: .read)],
            prefix: ["": ACLRule(policy: .read)]
        )
        rules.nodes = ACLRuleSet(prefix: ["web-": ACLRule(policy: .write)])
        rules.keys = ACLRuleSet(
            exact: ["config/secret": ACLRule(policy: .deny)],
            prefix: ["config/": ACLRule(policy: .list)]
        )
        rules.agents = ACLRuleSet(exact: ["n1": ACLRule(policy: .read)])
        rules.sessions = ACLRuleSet(prefix: ["": ACLRule(policy: .write)])
        rules.events = ACLRuleSet(exact: ["deploy": ACLRule(policy: .write)])
        rules.queries = ACLRuleSet(prefix: ["": ACLRule(policy: .read)])
        rules.operator = .read
        rules.mesh = .write
        rules.peering = .deny
        rules.keyring = .read
        rules.acl = .read
        return rules
    }

    @Test("decodes every rule kind from HCL")
    func decodesHCL() throws {
        #expect(try ACLRules.parse(Self.hclPolicy) == Self.expected)
    }

    @Test("decodes the JSON object-of-objects form")
    func decodesJSONObjects() throws {
        let json = """
            {
              "service": {"web": {"policy": "write", "intentions": "read"}},
              "service_prefix": {"": {"policy": "read"}},
              "node_prefix": {"web-": {"policy": "write"}},
              "key_prefix": {"config/": {"policy": "list"}},
              "key": {"config/secret": {"policy": "deny"}},
              "agent": {"n1": {"policy": "read"}},
              "session_prefix": {"": {"policy": "write"}},
              "event": {"deploy": {"policy": "write"}},
              "query_prefix": {"": {"policy": "read"}},
              "operator": "read", "mesh": "write", "peering": "deny", "keyring": "read", "acl": "read"
            }
            """
        #expect(try ACLRules.parse(json) == Self.expected)
    }

    @Test("decodes the JSON list-of-objects form")
    func decodesJSONLists() throws {
        let json = """
            {
              "service": [{"web": [{"policy": "write"}, {"intentions": "read"}]}],
              "service_prefix": [{"": {"policy": "read"}}],
              "node_prefix": [{"web-": {"policy": "write"}}],
              "key_prefix": [{"config/": {"policy": "list"}}],
              "key": [{"config/secret": {"policy": "deny"}}],
              "agent": [{"n1": {"policy": "read"}}],
              "session_prefix": [{"": {"policy": "write"}}],
              "event": [{"deploy": {"policy": "write"}}],
              "query_prefix": [{"": {"policy": "read"}}],
              "operator": "read", "mesh": "write", "peering": "deny", "keyring": "read", "acl": "read"
            }
            """
        #expect(try ACLRules.parse(json) == Self.expected)
    }

    @Test("empty, blank and comment-only text means no rules", arguments: ["", "  \n\t", "# nothing yet\n", "{}"])
    func empty(text: String) throws {
        let rules = try ACLRules.parse(text)
        #expect(rules == ACLRules())
        #expect(rules.isEmpty)
    }

    @Test("repeated blocks accumulate; the same name twice merges with deny winning")
    func repeatedBlocks() throws {
        let rules = try ACLRules.parse(
            """
            service "a" { policy = "read" }
            service "b" { policy = "write" }
            service "a" { policy = "deny" }
            service "b" { policy = "read" }
            """
        )
        #expect(rules.services.exact == ["a": ACLRule(policy: .deny), "b": ACLRule(policy: .write)])
    }

    @Test("keys are matched case-insensitively, names are kept as written")
    func caseInsensitiveKeys() throws {
        let rules = try ACLRules.parse(#"Service "Web" { Policy = "read" }"# + "\nOPERATOR = \"write\"")
        #expect(rules.services.exact == ["Web": ACLRule(policy: .read)])
        #expect(rules.operator == .write)
    }

    @Test("an empty singleton string is unset, as in Consul")
    func emptySingleton() throws {
        #expect(try ACLRules.parse(#"operator = """#).operator == nil)
    }

    @Test(
        "invalid rules are rejected at the offending key or value",
        arguments: [
            ("service \"web\" {\n    policy = \"reed\"\n}", 2, 14, "invalid policy \"reed\" for service \"web\""),
            ("services \"web\" { policy = \"read\" }", 1, 1, "unknown key \"services\""),
            ("acl = \"write\"\nfoo = 1", 2, 1, "unknown key \"foo\""),
            (
                "node \"n\" {\n  policy = \"read\"\n  intentions = \"read\"\n}", 3, 3,
                "unknown key \"intentions\" in node \"n\""
            ),
            (
                "service \"web\" {\n  policy = \"read\"\n  intentions = \"all\"\n}", 3, 16,
                "invalid intentions \"all\" for service \"web\""
            ),
            ("service \"web\" { policy = \"list\" }", 1, 26, "invalid policy \"list\" for service \"web\""),
            ("service_prefix \"\" { policy = \"READ\" }", 1, 30, "invalid policy \"READ\" for service_prefix \"\""),
            ("service \"web\" { polcy = \"read\" }", 1, 17, "unknown key \"polcy\" in service \"web\""),
            ("service \"web\" {}", 1, 9, "missing policy for service \"web\""),
            ("operator = \"admin\"", 1, 12, "invalid policy \"admin\" for operator"),
            ("keyring = \"list\"", 1, 11, "invalid policy \"list\" for keyring"),
            ("mesh = true", 1, 8, "mesh must be a string such as \"read\""),
            ("service = \"web\"", 1, 11, "expected a service block, found string \"web\""),
            ("node \"n\" { policy = 1 }", 1, 21, "policy for node \"n\" must be a string such as \"read\""),
            ("{\"service\": {\"web\": {\"policy\": \"reed\"}}}", 1, 32, "invalid policy \"reed\" for service \"web\""),
            ("service \"web\" {\n  policy \"read\"\n}", 3, 1, "expected '{' after key \"policy\" \"read\""),
        ]
    )
    func invalid(text: String, line: Int, column: Int, message: String) {
        #expect(throws: ACLRulesError(line: line, column: column, message: message)) {
            try ACLRules.parse(text)
        }
    }

    @Test("errors describe themselves with their position")
    func errorDescription() throws {
        let error = try #require(throws: ACLRulesError.self) {
            try ACLRules.parse("service \"web\" {\n    policy = \"reed\"\n}")
        }
        #expect(error.description == "line 2, column 14: invalid policy \"reed\" for service \"web\"")
    }

    @Test("key rules accept list")
    func keyList() throws {
        let rules = try ACLRules.parse(#"key "a" { policy = "list" } key_prefix "b/" { policy = "list" }"#)
        #expect(rules.keys.exact["a"]?.policy == .list)
        #expect(rules.keys.prefix["b/"]?.policy == .list)
    }

    @Test("intention rules are derived from service rules")
    func derivedIntentions() throws {
        let rules = try ACLRules.parse(
            """
            service "w" { policy = "write" }
            service "r" { policy = "read" }
            service "d" { policy = "deny" }
            service_prefix "x-" {
              policy = "deny"
              intentions = "write"
            }
            """
        )
        #expect(
            rules.intentions.exact == [
                "w": ACLRule(policy: .read), "r": ACLRule(policy: .read), "d": ACLRule(policy: .deny),
            ]
        )
        #expect(rules.intentions.prefix == ["x-": ACLRule(policy: .write)])
    }

    @Test("merging applies deny, then write, then list, then read")
    func merging() {
        var first = ACLRules()
        first.keys.add(ACLRule(policy: .read), for: "k", isPrefix: false)
        first.services.add(ACLRule(policy: .write, intentions: .read), for: "s", isPrefix: false)
        first.acl = .write
        first.operator = .read
        var second = ACLRules()
        second.keys.add(ACLRule(policy: .list), for: "k", isPrefix: false)
        second.services.add(ACLRule(policy: .read, intentions: .deny), for: "s", isPrefix: false)
        second.acl = .deny
        second.mesh = .read
        let merged = ACLRules.merged([first, second])
        #expect(merged.keys.exact["k"] == ACLRule(policy: .list))
        #expect(merged.services.exact["s"] == ACLRule(policy: .write, intentions: .deny))
        #expect(merged.acl == .deny)
        #expect(merged.operator == .read)
        #expect(merged.mesh == .read)
    }

    @Test("the global-management rules text parses to ACLIdentities.globalManagement")
    func globalManagementText() throws {
        #expect(try ACLRules.parse(ACLIdentities.globalManagementRulesText) == ACLIdentities.globalManagement)
    }
}
