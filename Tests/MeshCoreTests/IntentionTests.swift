import Foundation
import MeshCore
import Testing

/// An L4 intention in the default namespace.
private func ixn(_ source: String, _ destination: String, _ action: IntentionAction) -> Intention {
    Intention(sourceName: source, destinationName: destination, action: action)
}

/// An L7 intention in the default namespace.
private func ixn(_ source: String, _ destination: String, _ permissions: [IntentionPermission]) -> Intention {
    Intention(sourceName: source, destinationName: destination, permissions: permissions)
}

private func request(
    _ method: String,
    _ path: String,
    _ headers: [(name: String, value: String)] = []
) -> IntentionHTTPRequest {
    IntentionHTTPRequest(method: method, path: path, headers: headers)
}

@Suite("Intention precedence")
struct IntentionPrecedenceTests {
    @Test(
        "matches Consul's table: destination picks the band, source the place in it",
        arguments: [
            ("default", "web", "default", "db", 9), ("default", "*", "default", "db", 8),
            ("*", "*", "default", "db", 7), ("default", "web", "default", "*", 6),
            ("default", "*", "default", "*", 5), ("*", "*", "default", "*", 4), ("default", "web", "*", "*", 3),
            ("default", "*", "*", "*", 2), ("*", "*", "*", "*", 1),
        ]
    )
    func table(
        sourceNamespace: String,
        source: String,
        destinationNamespace: String,
        destination: String,
        expected: Int
    ) {
        let intention = Intention(
            sourceNamespace: sourceNamespace,
            sourceName: source,
            destinationNamespace: destinationNamespace,
            destinationName: destination,
            action: .allow
        )
        #expect(intention.precedence == expected)
        #expect(
            Intention.precedence(
                sourceNamespace: sourceNamespace,
                sourceName: source,
                destinationNamespace: destinationNamespace,
                destinationName: destination
            ) == expected
        )
    }

    @Test("permissions, partitions and peers do not change precedence")
    func noAdjustments() {
        let l7 = ixn("web", "db", [IntentionPermission(action: .allow, http: .init(pathPrefix: "/"))])
        #expect(l7.precedence == 9)
        let peered = Intention(sourceName: "web", destinationName: "db", sourcePeer: "other", action: .allow)
        #expect(peered.precedence == 9)
        let partitioned = Intention(sourceName: "*", destinationName: "db", sourcePartition: "p1", action: .deny)
        #expect(partitioned.precedence == 8)
    }

    @Test("a set recomputes a stale precedence")
    func recomputed() {
        var stale = ixn("web", "db", .deny)
        stale.precedence = 1
        let set = IntentionSet([stale])
        #expect(set.intentions[0].precedence == 9)
    }
}

@Suite("Intention matching and /check")
struct IntentionMatchTests {
    static let set = IntentionSet([
        ixn("*", "*", .deny), ixn("web", "*", .allow), ixn("*", "db", .allow), ixn("web", "db", .deny),
        ixn("api", "db", .allow), ixn("Zeta", "db", .allow),
        Intention(sourceNamespace: "billing", sourceName: "ledger", destinationName: "db", action: .deny),
        Intention(sourceName: "web", destinationName: "db", sourcePeer: "east", action: .allow),
        ixn("web", "cache", .allow),
    ])

    @Test("by destination: highest precedence first, ties in Consul's bytewise source order")
    func byDestination() {
        let matches = Self.set.matches(destination: "db")
        #expect(matches.map(\.precedence) == [9, 9, 9, 9, 9, 8, 6, 5])
        let sources = matches.map { "\($0.sourcePeer)|\($0.sourceNamespace)/\($0.sourceName)" }
        #expect(
            sources == [
                "|billing/ledger", "|default/Zeta", "|default/api", "|default/web", "east|default/web", "|default/*",
                "|default/web", "|default/*",
            ]
        )
        #expect(matches.last?.destinationName == "*")
        #expect(Self.set.matches(destination: "db", namespace: "other").map(\.precedence) == [])
    }

    @Test("by source: wildcards included, peers kept apart")
    func bySource() {
        let local = Self.set.matches(source: "web")
        #expect(local.map(\.summaryForTest) == ["web->cache", "web->db", "*->db", "web->*", "*->*"])
        let peered = Self.set.matches(source: "web", peer: "east")
        #expect(peered.map(\.summaryForTest) == ["web->db"])
        let billing = Self.set.matches(source: "ledger", namespace: "billing")
        #expect(billing.map(\.summaryForTest) == ["ledger->db"])
    }

    @Test("exact beats wildcard: web -> db deny wins over * -> db allow")
    func exactBeatsWildcard() {
        let decision = Self.set.decide(source: "web", destination: "db", defaultAllow: true)
        #expect(!decision.allowed)
        #expect(decision.matched?.sourceName == "web")
        #expect(decision.matched?.destinationName == "db")
        #expect(decision.reason == "matched intention web -> db (deny)")

        let other = Self.set.decide(source: "billing", destination: "db", defaultAllow: false)
        #expect(other.allowed)
        #expect(other.reason == "matched intention * -> db (allow)")

        let cache = Self.set.decide(source: "api", destination: "cache", defaultAllow: true)
        #expect(!cache.allowed)
        #expect(cache.reason == "matched intention * -> * (deny)")
    }

    @Test("no match falls back to the default policy")
    func defaults() {
        let set = IntentionSet([ixn("web", "db", .deny)])
        let allow = set.decide(source: "api", destination: "db", defaultAllow: true)
        #expect(allow == .byDefault(allowed: true))
        #expect(allow.reason == "default allow")
        #expect(set.decide(source: "api", destination: "db", defaultAllow: false).reason == "default deny")
        #expect(set.decide(source: "api", destination: "db", defaultAllow: false).matched == nil)
    }

    @Test("/check answers not allowed for an intention with L7 permissions, whatever the default")
    func checkWithPermissions() {
        let set = IntentionSet([
            ixn("web", "db", [IntentionPermission(action: .allow, http: .init(pathPrefix: "/"))]),
            ixn("*", "db", .allow),
        ])
        let decision = set.decide(source: "web", destination: "db", defaultAllow: true)
        #expect(!decision.allowed)
        #expect(decision.matched?.hasPermissions == true)
        #expect(set.decide(source: "api", destination: "db", defaultAllow: false).allowed)
    }

    @Test("namespaces and peers must match")
    func tenancy() {
        let ledger = IntentionServiceName("ledger", namespace: "billing")
        let db = IntentionServiceName("db")
        #expect(!Self.set.decide(source: ledger, destination: db, defaultAllow: true).allowed)
        let eastWeb = IntentionServiceName("web", peer: "east")
        let decision = Self.set.decide(source: eastWeb, destination: db, defaultAllow: false)
        #expect(decision.allowed)
        #expect(decision.reason == "matched intention peer(east)/default/web -> db (allow)")
    }
}

@Suite("L7 authorization")
struct IntentionAuthorizeTests {
    static let permissions = [
        IntentionPermission(action: .deny, http: .init(pathPrefix: "/admin")),
        IntentionPermission(action: .allow, http: .init(pathExact: "/health")),
        IntentionPermission(action: .allow, http: .init(pathPrefix: "/api/", methods: ["GET", "HEAD"])),
        IntentionPermission(action: .allow, http: .init(pathRegex: "/v[0-9]+/items")),
        IntentionPermission(
            action: .allow,
            http: .init(
                pathPrefix: "/env",
                header: [.init(name: "x-env", exact: "prod", invert: true), .init(name: "x-team", present: true)]
            )
        ),
    ]
    static let set = IntentionSet([ixn("web", "db", Self.permissions), ixn("*", "db", .allow)])

    @Test(
        "path, method and header rules decide in order; the first matching permission wins",
        arguments: [
            ("GET", "/admin/users", [], false, 0), ("GET", "/health", [], true, 1),
            ("GET", "/health?full=1", [], true, 1),
            ("GET", "/api/users", [], true, 2), ("HEAD", "/api/", [], true, 2), ("GET", "/v2/items", [], true, 3),
            ("GET", "/v2/items?x", [], true, 3), ("GET", "/env", [("x-env", "dev"), ("X-Team", "a")], true, 4),
        ] as [(String, String, [(String, String)], Bool, Int)]
    )
    func permissionDecides(method: String, path: String, headers: [(String, String)], allowed: Bool, permission: Int) {
        let headers = headers.map { (name: $0.0, value: $0.1) }
        let decision = Self.set.authorize(
            source: "web",
            destination: "db",
            request: request(method, path, headers),
            defaultAllow: false
        )
        #expect(decision.allowed == allowed)
        #expect(decision.permissionIndex == permission)
        #expect(decision.matched?.sourceName == "web")
    }

    @Test(
        "when no permission matches, the default decides and lower intentions are not consulted",
        arguments: [
            ("POST", "/api/users", [] as [(String, String)]), ("GET", "/healthz", []), ("GET", "/v2/items/1", []),
            ("GET", "/vx/items", []), ("GET", "/env", [("x-env", "prod"), ("x-team", "a")]), ("GET", "/env", []),
            ("GET", "/env", [("x-team", "a")]), ("get", "/api/users", []),
        ]
    )
    func fallsBackToDefault(method: String, path: String, headers: [(String, String)]) {
        let request = request(method, path, headers.map { (name: $0.0, value: $0.1) })
        let denied = Self.set.authorize(source: "web", destination: "db", request: request, defaultAllow: false)
        #expect(!denied.allowed)
        #expect(denied.permissionIndex == nil)
        #expect(denied.reason == "matched intention web -> db, no permission matched (default deny)")
        let allowed = Self.set.authorize(source: "web", destination: "db", request: request, defaultAllow: true)
        #expect(allowed.allowed)
        #expect(allowed.reason == "matched intention web -> db, no permission matched (default allow)")
    }

    @Test("other sources still get the wildcard intention")
    func otherSources() {
        let decision = Self.set.authorize(
            source: "api",
            destination: "db",
            request: request("DELETE", "/admin"),
            defaultAllow: false
        )
        #expect(decision.allowed)
        #expect(decision.reason == "matched intention * -> db (allow)")
    }

    @Test("a deny permission under default deny reports the permission that matched")
    func denyPermissionUnderDefaultDeny() {
        let decision = Self.set.authorize(
            source: "web",
            destination: "db",
            request: request("GET", "/admin"),
            defaultAllow: false
        )
        #expect(!decision.allowed)
        #expect(decision.permissionIndex == 0)
        #expect(decision.reason == "matched intention web -> db, permission 0 (deny)")
    }

    @Test(
        "header rules: exact, prefix, suffix, contains, regex, present, ignore-case, each inverted",
        arguments: [
            (IntentionHTTPHeaderPermission(name: "x-v", exact: "abc"), "abc", true),
            (.init(name: "x-v", exact: "abc"), "ABC", false),
            (.init(name: "x-v", exact: "abc", ignoreCase: true), "ABC", true),
            (.init(name: "x-v", prefix: "ab"), "abc", true), (.init(name: "x-v", prefix: "bc"), "abc", false),
            (.init(name: "x-v", suffix: "bc"), "abc", true), (.init(name: "x-v", suffix: "ab"), "abc", false),
            (.init(name: "x-v", contains: "b"), "abc", true),
            (.init(name: "x-v", contains: "B", ignoreCase: true), "abc", true),
            (.init(name: "x-v", regex: "a.c"), "abc", true), (.init(name: "x-v", regex: "a"), "abc", false),
            (.init(name: "x-v", regex: "a|ab"), "ab", true), (.init(name: "x-v", present: true), "", true),
            (.init(name: "x-v", exact: "abc", invert: true), "abc", false),
            (.init(name: "x-v", exact: "abc", invert: true), "abd", true),
            (.init(name: "x-v", regex: "\\d{3}", invert: true), "1234", true),
            (.init(name: "x-v", present: true, invert: true), "abc", false),
        ] as [(IntentionHTTPHeaderPermission, String, Bool)]
    )
    func headerRules(rule: IntentionHTTPHeaderPermission, value: String, matches: Bool) {
        let set = IntentionSet([ixn("web", "db", [.init(action: .allow, http: .init(header: [rule]))])])
        let decision = set.authorize(
            source: "web",
            destination: "db",
            request: request("GET", "/", [(name: "X-V", value: value)]),
            defaultAllow: false
        )
        #expect(decision.allowed == matches)
    }

    @Test("a missing header fails every rule except an inverted presence rule")
    func missingHeader() {
        let rules: [(IntentionHTTPHeaderPermission, Bool)] = [
            (.init(name: "x-v", present: true), false), (.init(name: "x-v", present: true, invert: true), true),
            (.init(name: "x-v", exact: "abc", invert: true), false),
            (.init(name: "x-v", prefix: "a", invert: true), false),
        ]
        for (rule, expected) in rules {
            let set = IntentionSet([ixn("web", "db", [.init(action: .allow, http: .init(header: [rule]))])])
            let decision = set.authorize(
                source: "web",
                destination: "db",
                request: request("GET", "/"),
                defaultAllow: false
            )
            #expect(decision.allowed == expected, "\(rule)")
        }
    }

    @Test("repeated headers are joined with commas; pseudo-headers come from the request line")
    func headerValues() {
        let req = request(
            "PUT",
            "/a?b=1",
            [(name: "X-Multi", value: "one"), (name: "x-multi", value: "two"), (name: "Host", value: "db.local")]
        )
        #expect(req.headerValue(named: "x-multi") == "one,two")
        #expect(req.headerValue(named: ":method") == "PUT")
        #expect(req.headerValue(named: ":path") == "/a?b=1")
        #expect(req.headerValue(named: ":authority") == "db.local")
        #expect(req.headerValue(named: "absent") == nil)
        #expect(req.pathWithoutQuery == "/a")
        let set = IntentionSet([
            ixn("web", "db", [.init(action: .allow, http: .init(header: [.init(name: "x-multi", exact: "one,two")]))])
        ])
        #expect(set.authorize(source: "web", destination: "db", request: req, defaultAllow: false).allowed)
    }

    @Test("a more specific intention masks broader ones for its source, whatever its action")
    func masking() {
        let set = IntentionSet([ixn("web", "db", .allow), ixn("*", "db", .deny)])
        for defaultAllow in [false, true] {
            let web = set.authorize(
                source: "web",
                destination: "db",
                request: request("GET", "/"),
                defaultAllow: defaultAllow
            )
            #expect(web.allowed)
            #expect(web.matched?.sourceName == "web")
            let api = set.authorize(
                source: "api",
                destination: "db",
                request: request("GET", "/"),
                defaultAllow: defaultAllow
            )
            #expect(!api.allowed)
            #expect(api.matched?.sourceName == "*")
        }
    }

    @Test("the TCP filter treats an L7 intention as deny")
    func networkFilter() {
        let web = IntentionServiceName("web")
        let db = IntentionServiceName("db")
        let allowByDefault = Self.set.authorizeConnection(source: web, destination: db, defaultAllow: true)
        #expect(!allowByDefault.allowed)
        #expect(allowByDefault.reason == "matched intention web -> db (L7 permissions on a TCP connection: deny)")
        #expect(!Self.set.authorizeConnection(source: web, destination: db, defaultAllow: false).allowed)
        #expect(
            Self.set.authorizeConnection(source: IntentionServiceName("api"), destination: db, defaultAllow: false)
                .allowed
        )
    }

    @Test("Envoy's RBAC does not mask a narrower, lower-precedence source; /check does")
    func rbacDiffersFromCheck() {
        let set = IntentionSet([ixn("*", "db", .allow), ixn("web", "*", .deny)])
        let check = set.decide(source: "web", destination: "db", defaultAllow: true)
        #expect(check.allowed)
        let envoy = set.authorize(source: "web", destination: "db", request: request("GET", "/"), defaultAllow: true)
        #expect(!envoy.allowed)
        #expect(envoy.reason == "matched intention web -> * (deny)")
        let defaultDeny = set.authorize(
            source: "web",
            destination: "db",
            request: request("GET", "/"),
            defaultAllow: false
        )
        #expect(defaultDeny.allowed)
    }

    @Test("a lower-precedence intention with the same source is dropped")
    func sameSourceDropped() {
        let set = IntentionSet([ixn("web", "db", .allow), ixn("web", "*", .deny)])
        let decision = set.authorize(source: "web", destination: "db", request: request("GET", "/"), defaultAllow: true)
        #expect(decision.allowed)
        #expect(decision.reason == "matched intention web -> db (allow)")
    }
}

@Suite("Intention validation")
struct IntentionValidationTests {
    static func permission(_ http: IntentionHTTPPermission?, action: IntentionAction = .allow) -> Intention {
        ixn("web", "db", [IntentionPermission(action: action, http: http)])
    }

    @Test(
        "rejects with the field named as the API spells it",
        arguments: [
            (Intention(sourceName: "", destinationName: "db", action: .allow), "SourceName"),
            (Intention(sourceName: "web", destinationName: "", action: .allow), "DestinationName"),
            (ixn("web*", "db", .allow), "SourceName"), (ixn("web", "d*", .allow), "DestinationName"),
            (Intention(sourceNamespace: "de*", sourceName: "*", destinationName: "db", action: .allow), "SourceNS"),
            (Intention(sourceNamespace: "*", sourceName: "web", destinationName: "db", action: .allow), "SourceName"),
            (
                Intention(sourceName: "web", destinationNamespace: "*", destinationName: "db", action: .allow),
                "DestinationName"
            ),
            (
                Intention(sourceName: "web", destinationName: "db", sourcePartition: "*", action: .allow),
                "SourcePartition"
            ),
            (Intention(sourceName: "web", destinationName: "db", sourcePeer: "p*", action: .allow), "SourcePeer"),
            (
                Intention(
                    sourceName: "web",
                    destinationName: "db",
                    sourcePartition: "a",
                    sourcePeer: "b",
                    action: .allow
                ),
                "SourcePeer"
            ),
            (ixn("web", "db", .none), "Action"), (ixn("web", "db", "permit"), "Action"),
            (Intention(sourceName: "web", destinationName: "db", sourceType: "external", action: .allow), "SourceType"),
            (
                Intention(
                    description: String(repeating: "x", count: 513),
                    sourceName: "web",
                    destinationName: "db",
                    action: .allow
                ),
                "Description"
            ),
            (
                Intention(
                    sourceName: "web",
                    destinationName: "db",
                    action: .allow,
                    meta: Dictionary(uniqueKeysWithValues: (0..<65).map { ("k\($0)", "v") })
                ), "Meta"
            ),
            (
                Intention(
                    sourceName: "web",
                    destinationName: "db",
                    action: .allow,
                    meta: [String(repeating: "k", count: 129): "v"]
                ), "Meta"
            ),
            (
                Intention(
                    sourceName: "web",
                    destinationName: "db",
                    action: .allow,
                    meta: ["k": String(repeating: "v", count: 513)]
                ), "Meta"
            ),
            (
                Intention(
                    sourceName: "web",
                    destinationName: "db",
                    action: .allow,
                    permissions: [.init(action: .allow, http: .init(pathPrefix: "/"))]
                ), "Action"
            ),
            (ixn("web", "*", [.init(action: .allow, http: .init(pathPrefix: "/"))]), "Permissions"),
            (permission(.init(pathPrefix: "/"), action: .none), "Permissions[0].Action"),
            (permission(nil), "Permissions[0].HTTP"), (permission(.init()), "Permissions[0].HTTP"),
            (permission(.init(pathExact: "health")), "Permissions[0].HTTP.PathExact"),
            (permission(.init(pathPrefix: "api")), "Permissions[0].HTTP.PathPrefix"),
            (permission(.init(pathExact: "/a", pathPrefix: "/b")), "Permissions[0].HTTP"),
            (permission(.init(pathPrefix: "/b", pathRegex: "/c")), "Permissions[0].HTTP"),
            (permission(.init(pathRegex: "/v[0-9")), "Permissions[0].HTTP.PathRegex"),
            (permission(.init(pathRegex: "a)|(b")), "Permissions[0].HTTP.PathRegex"),
            (permission(.init(header: [.init(name: "", exact: "x")])), "Permissions[0].HTTP.Header[0].Name"),
            (permission(.init(header: [.init(name: "x")])), "Permissions[0].HTTP.Header[0]"),
            (permission(.init(header: [.init(name: "x", exact: "a", prefix: "b")])), "Permissions[0].HTTP.Header[0]"),
            (permission(.init(header: [.init(name: "x", present: true, regex: "b")])), "Permissions[0].HTTP.Header[0]"),
            (
                permission(.init(header: [.init(name: "x", exact: "a"), .init(name: "y", regex: "(")])),
                "Permissions[0].HTTP.Header[1].Regex"
            ),
            (
                permission(.init(header: [.init(name: "x", regex: "a", ignoreCase: true)])),
                "Permissions[0].HTTP.Header[0].IgnoreCase"
            ),
            (permission(.init(methods: ["GET", "FETCH"])), "Permissions[0].HTTP.Methods"),
            (permission(.init(methods: ["GET", "get"])), "Permissions[0].HTTP.Methods"),
            (
                ixn(
                    "web",
                    "db",
                    [
                        .init(action: .allow, http: .init(pathPrefix: "/")),
                        .init(action: .allow, http: .init(pathExact: "x")),
                    ]
                ),
                "Permissions[1].HTTP.PathExact"
            ),
            (permission(IntentionHTTPPermission(pathPrefix: "/")).withJWT, "JWT"),
        ]
    )
    func rejects(intention: Intention, field: String) {
        let error = #expect(throws: ValidationError.self) {
            try IntentionValidator.validate(intention)
        }
        #expect(error?.field == field, "\(String(describing: error))")
    }

    @Test("normalizes like Consul: default namespaces and source type, uppercase methods, precedence")
    func normalizes() throws {
        var input = Intention(
            sourceNamespace: "",
            sourceName: "*",
            destinationNamespace: "",
            destinationName: "db",
            sourceType: "",
            permissions: [.init(action: .allow, http: .init(pathPrefix: "/", methods: ["get", "Post"]))]
        )
        input.precedence = 0
        let output = try IntentionValidator.validate(input)
        #expect(output.sourceNamespace == "default")
        #expect(output.destinationNamespace == "default")
        #expect(output.sourceType == "consul")
        #expect(output.permissions[0].http?.methods == ["GET", "POST"])
        #expect(output.precedence == 8)
    }

    @Test("accepts the limits exactly, wildcards as whole values, and each header rule kind")
    func accepts() throws {
        let limits = Intention(
            description: String(repeating: "d", count: 512),
            sourceNamespace: "*",
            sourceName: "*",
            destinationName: "db",
            action: .deny,
            meta: Dictionary(uniqueKeysWithValues: (0..<64).map { ("\($0)" + String(repeating: "k", count: 100), "v") })
        )
        try IntentionValidator.validate(limits)
        let kinds: [IntentionHTTPHeaderPermission] = [
            .init(name: "a", present: true), .init(name: "a", exact: "x", ignoreCase: true),
            .init(name: "a", prefix: "x"),
            .init(name: "a", suffix: "x"), .init(name: "a", contains: "x"), .init(name: "a", regex: "x+", invert: true),
        ]
        try IntentionValidator.validate(ixn("web", "db", [.init(action: .deny, http: .init(header: kinds))]))
        try IntentionValidator.validate(ixn("web", "db", [.init(action: .allow, http: .init(methods: ["CONNECT"]))]))
    }
}

@Suite("Intention JSON")
struct IntentionJSONTests {
    static func object(_ value: some Encodable) throws -> [String: Any] {
        let data = try JSONEncoder().encode(value)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test("omits what Consul omits when empty")
    func omitsEmpty() throws {
        let json = try Self.object(ixn("web", "db", .allow))
        #expect(
            Set(json.keys) == [
                "SourceNS", "SourceName", "DestinationNS", "DestinationName", "SourceType", "Action", "Precedence",
                "CreateIndex", "ModifyIndex",
            ]
        )
        #expect(json["Precedence"] as? Int == 9)
        #expect(json["SourceType"] as? String == "consul")

        let l7 = try Self.object(
            ixn(
                "web",
                "db",
                [.init(action: .deny, http: .init(pathPrefix: "/a", header: [.init(name: "x", exact: "1")]))]
            )
        )
        #expect(l7["Action"] == nil)
        let permissions = try #require(l7["Permissions"] as? [[String: Any]])
        #expect(Set(permissions[0].keys) == ["Action", "HTTP"])
        let http = try #require(permissions[0]["HTTP"] as? [String: Any])
        #expect(Set(http.keys) == ["PathPrefix", "Header"])
        let header = try #require((http["Header"] as? [[String: Any]])?.first)
        #expect(Set(header.keys) == ["Name", "Exact"])
    }

    @Test("writes the optional fields when set, times as Go's RFC 3339")
    func writesSetFields() throws {
        var intention = ixn("web", "db", .allow)
        intention.id = "e9ebc19f-d481-42b1-4871-4d298d3acd5c"
        intention.description = "d"
        intention.meta = ["k": "v"]
        intention.createdAt = Date(timeIntervalSince1970: 1_609_871_980.5)
        intention.updatedAt = Date(timeIntervalSince1970: 1_609_871_981)
        intention.sourcePeer = "east"
        let json = try Self.object(intention)
        #expect(json["ID"] as? String == "e9ebc19f-d481-42b1-4871-4d298d3acd5c")
        #expect(json["Description"] as? String == "d")
        #expect(json["Meta"] as? [String: String] == ["k": "v"])
        #expect(json["SourcePeer"] as? String == "east")
        #expect(json["CreatedAt"] as? String == "2021-01-05T18:39:40.5Z")
        #expect(json["UpdatedAt"] as? String == "2021-01-05T18:39:41Z")
    }

    @Test("decodes a Consul-shaped body")
    func decodesConsulBody() throws {
        let body = """
            {
              "ID": "", "Description": "l7 rules", "SourceNS": "default", "SourceName": "web",
              "DestinationNS": "default", "DestinationName": "db", "SourceType": "consul",
              "Permissions": [
                {"Action": "deny", "HTTP": {"PathPrefix": "/admin"}},
                {"Action": "allow", "HTTP": {"PathRegex": "/v[0-9]+/.*", "Methods": ["GET"],
                  "Header": [{"Name": "x-env", "Exact": "prod", "Invert": true}]}}
              ],
              "Meta": {"owner": "team"}, "Precedence": 9,
              "CreatedAt": "2021-01-05T18:39:40.416234Z", "UpdatedAt": "2021-01-05T19:39:40+01:00",
              "CreateIndex": 11, "ModifyIndex": 12, "DefaultAddr": "", "DefaultPort": 0
            }
            """
        let intention = try JSONDecoder().decode(Intention.self, from: Data(body.utf8))
        #expect(intention.sourceName == "web")
        #expect(intention.description == "l7 rules")
        #expect(intention.action == .none)
        #expect(intention.permissions.count == 2)
        #expect(intention.permissions[1].http?.header.first?.invert == true)
        #expect(intention.permissions[1].http?.methods == ["GET"])
        #expect(intention.meta == ["owner": "team"])
        #expect(intention.createIndex == 11)
        #expect(intention.modifyIndex == 12)
        let created = try #require(intention.createdAt).timeIntervalSince1970
        #expect(abs(created - 1_609_871_980.416234) < 0.000_01)
        #expect(intention.updatedAt == Date(timeIntervalSince1970: 1_609_871_980))
        try IntentionValidator.validate(intention)
    }

    @Test("decoding is as lenient as Go's: fields optional, names case-insensitive, null as absent, zero time unset")
    func lenient() throws {
        let body =
            #"{"sourcename": "web", "DESTINATIONNAME": "db", "action": "allow", "Meta": null,"#
            + #" "CreatedAt": "0001-01-01T00:00:00Z"}"#
        let intention = try JSONDecoder().decode(Intention.self, from: Data(body.utf8))
        #expect(intention.sourceName == "web")
        #expect(intention.destinationName == "db")
        #expect(intention.action == .allow)
        #expect(intention.sourceNamespace == "")
        #expect(intention.createdAt == nil)
        #expect(intention.precedence == 9)
        let validated = try IntentionValidator.validate(intention)
        #expect(validated.sourceNamespace == "default")
        #expect(validated.sourceType == "consul")
    }

    @Test("unknown fields are refused, as Consul's DisallowUnknownFields does")
    func unknownFields() {
        for body in [
            #"{"SourceName": "web", "Bogus": 1}"#, #"{"Permissions": [{"Action": "allow", "HTTP": {"Path": "/"}}]}"#,
        ] {
            #expect(throws: DecodingError.self) {
                try JSONDecoder().decode(Intention.self, from: Data(body.utf8))
            }
        }
    }

    @Test("round-trips through JSON")
    func roundTrip() throws {
        var intention = ixn(
            "web",
            "db",
            [
                .init(
                    action: .allow,
                    http: .init(
                        pathExact: "/x",
                        header: [.init(name: "a", present: true, invert: true)],
                        methods: ["GET"]
                    )
                )
            ]
        )
        intention.sourcePartition = "p1"
        intention.createIndex = 3
        intention.modifyIndex = 4
        intention.hash = "c29tZWhhc2g="
        let decoded = try JSONDecoder().decode(Intention.self, from: try JSONEncoder().encode(intention))
        #expect(decoded == intention)
    }
}

extension Intention {
    fileprivate var summaryForTest: String { "\(self.sourceName)->\(self.destinationName)" }

    fileprivate var withJWT: Intention {
        var copy = self
        copy.jwt = .object(["Providers": .array([])])
        return copy
    }
}
