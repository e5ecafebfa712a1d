import MeshCore
import Testing

/// The intentions' regular expressions: RE2 syntax matched in linear time. Differential against
/// Swift's backtracking `Regex` on the shared syntax; refusals as RE2's; and patterns that make
/// a backtracking engine take exponential time finish at once (the suite's time limit would
/// stop a backtracking implementation).
@Suite(.timeLimit(.minutes(1))) struct LinearRegexTests {
    /// A small deterministic generator (SplitMix64).
    struct Seeded {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            self.state &+= 0x9E37_79B9_7F4A_7C15
            var z = self.state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    /// Patterns of the syntax both engines share, each with inputs that match it.
    static let patterns: [(String, [String])] = [
        ("/api/.*", ["/api/", "/api/v1/x"]), ("/api/v[0-9]+/users/[^/]+", ["/api/v12/users/bob"]),
        ("/(admin|internal)(/.*)?", ["/admin", "/internal/x"]), ("a*b+c?", ["b", "aabbc"]),
        ("(ab|a)*b", ["b", "abab", "aab"]), ("[a-c]{2,4}", ["ab", "cbca"]), ("x{3}", ["xxx"]),
        ("(?:a|b|)+c", ["c", "abc"]), ("[[:alpha:]_]+[[:digit:]]*", ["a_b12"]), ("\\d\\w\\s?", ["1a", "2_ "]),
        ("[^abc]*", ["", "xyz"]), (".*\\.json", ["/a.json"]), ("a.c", ["abc", "a/c"]), ("(a|b)*abb", ["babb"]),
        ("[a\\-z]+", ["a-z"]), ("(?P<id>[0-9]+)-(?<rest>.*)", ["12-x"]), ("^/x$", ["/x"]),
        ("a{0,3}b{1,}", ["aaab", "bb"]), ("[\\]a]+", ["]a"]), ("\\.\\*\\+", [".*+"]),
    ]

    @Test("whole-match results agree with Swift's Regex on known matches and generated inputs")
    func agreesWithBacktracking() throws {
        for (pattern, samples) in Self.patterns {
            let linear = try LinearRegex(pattern)
            let reference = try Regex(pattern)
            for sample in samples {
                #expect(linear.matchesWhole(sample), "\(pattern) on \(sample)")
                #expect((try? reference.wholeMatch(in: sample)) != nil, "reference: \(pattern) on \(sample)")
            }
            // Mutations of the samples and random strings over their characters.
            let alphabet = Array(Set(samples.joined() + "ab9/.")).sorted()
            var random = Seeded(state: UInt64(pattern.utf8.count) &* 7919)
            for _ in 0..<300 {
                var text = Array(samples[random.next(samples.count)])
                switch random.next(3) {
                case 0 where !text.isEmpty: text.remove(at: random.next(text.count))
                case 1: text.insert(alphabet[random.next(alphabet.count)], at: random.next(text.count + 1))
                default: text = (0..<random.next(8)).map { _ in alphabet[random.next(alphabet.count)] }
                }
                let input = String(text)
                let expected = (try? reference.wholeMatch(in: input)) != nil
                #expect(linear.matchesWhole(input) == expected, "\(pattern) on \(input)")
            }
        }
    }

    @Test("case-insensitive flag folds ASCII letters in literals and classes")
    func caseInsensitive() throws {
        let regex = try LinearRegex("(?i)/Admin/[a-c]+")
        #expect(regex.matchesWhole("/ADMIN/ABC"))
        #expect(regex.matchesWhole("/admin/cab"))
        #expect(!regex.matchesWhole("/admin/d"))
    }

    @Test(
        "refused as RE2 refuses them",
        arguments: [
            "(a)\\1", "(?=a)", "(?!a)", "(?<=a)b", "\\bword", "a**", "a++", "*a", "(a", "a)", "[a", "a{1001}",
            "[z-a]", "\\pL", "(?x)a", "a{3,2}", "[[:nope:]]",
        ]
    )
    func refused(pattern: String) {
        #expect(throws: LinearRegex.SyntaxError.self) { try LinearRegex(pattern) }
    }

    @Test("catastrophic patterns for a backtracking engine finish at once on long inputs")
    func noCatastrophicBacktracking() throws {
        let long = String(repeating: "a", count: 20_000)
        for pattern in ["(a+)+b", "(a|a)*b", "(a*)*b", "(a|aa)+$x", "(.*a){20}"] {
            let regex = try LinearRegex(pattern)
            #expect(!regex.matchesWhole(long + "!"), "\(pattern)")
        }
        #expect(try LinearRegex("(a+)+").matchesWhole(long))
    }

    @Test("a pattern whose program would be huge is refused")
    func programSizeBound() {
        #expect(throws: LinearRegex.SyntaxError.self) { try LinearRegex("((a{1000}){1000}){1000}") }
    }
}
