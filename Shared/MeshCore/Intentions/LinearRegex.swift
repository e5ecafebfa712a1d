/// A regular expression matched in time linear in the input (Thompson's construction simulated
/// as a Pike VM without captures), for patterns that peers' requests are matched against.
///
/// Swift's `Regex` backtracks: a rule such as `(a+)+$` could hold an event loop for seconds on
/// a path a peer chose. This engine keeps a set of NFA states per input position instead, so a
/// match costs at most (input length) x (program size) steps, whatever the pattern.
///
/// The syntax is RE2's (what Envoy's `safe_regex` accepts), over Unicode scalars: literals and
/// `\`-escaped metacharacters, `.` (not newline), classes `[...]`/`[^...]` with ranges, `\d \w \s`
/// and their negations, POSIX `[[:alpha:]]`-style classes, `^` and `$`, groups `(...)`, `(?:...)`,
/// `(?P<name>...)`, `(?<name>...)`, alternation, `* + ?` (and their lazy forms, the same for a
/// yes/no match) and `{n}`, `{n,}`, `{n,m}` up to 1000, and a leading `(?i)` (ASCII case folding).
/// What RE2 refuses is refused here too: backreferences, lookaround, `\b`, possessive and nested
/// repetition operators.
public struct LinearRegex: Sendable {
    /// Why a pattern is refused, in RE2's words where it has them.
    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { self.reason }
    }

    /// The largest repeat count, as RE2.
    public static let maximumRepeat = 1000
    /// The largest compiled program; a pattern that expands past it is refused.
    public static let maximumProgramSize = 20_000

    private let program: [Instruction]
    private let classes: [CharacterClass]
    private let caseInsensitive: Bool

    /// Compiles `pattern`; throws for what RE2 would refuse or what compiles too large.
    public init(_ pattern: String) throws(SyntaxError) {
        var parser = Parser(Array(pattern.unicodeScalars))
        let caseInsensitive = parser.consumeCaseInsensitiveFlag()
        let tree = try parser.parse()
        var compiler = Compiler()
        try compiler.emit(tree)
        compiler.program.append(.match)
        self.program = compiler.program
        self.classes = compiler.classes
        self.caseInsensitive = caseInsensitive
    }

    /// Whether the whole of `text` matches.
    public func matchesWhole(_ text: some StringProtocol) -> Bool {
        let input = Array(text.unicodeScalars)
        var current = StateSet(capacity: self.program.count)
        var next = StateSet(capacity: self.program.count)
        self.addState(0, at: 0, length: input.count, to: &current)
        for (position, scalar) in input.enumerated() {
            if current.isEmpty { return false }
            next.removeAll()
            let folded = self.fold(scalar)
            for pc in current.members {
                let advances: Bool
                switch self.program[pc] {
                case .literal(let expected): advances = folded == self.fold(expected)
                case .any: advances = scalar != "\n"
                case .characterClass(let index):
                    advances = self.classes[index].contains(scalar, folding: self.caseInsensitive)
                default: advances = false
                }
                if advances { self.addState(pc + 1, at: position + 1, length: input.count, to: &next) }
            }
            swap(&current, &next)
        }
        return current.members.contains { if case .match = self.program[$0] { true } else { false } }
    }

    /// Adds `pc` and every state reachable from it without consuming input.
    private func addState(_ start: Int, at position: Int, length: Int, to set: inout StateSet) {
        var stack = [start]
        while let pc = stack.popLast() {
            guard set.insert(pc) else { continue }
            switch self.program[pc] {
            case .jump(let target): stack.append(target)
            case .split(let first, let second):
                stack.append(second)
                stack.append(first)
            case .assertBegin: if position == 0 { stack.append(pc + 1) }
            case .assertEnd: if position == length { stack.append(pc + 1) }
            case .literal, .any, .characterClass, .match: break
            }
        }
    }

    private func fold(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        guard self.caseInsensitive, ("A"..."Z").contains(scalar) else { return scalar }
        return Unicode.Scalar(scalar.value + 32) ?? scalar
    }
}

// MARK: - Program

extension LinearRegex {
    fileprivate enum Instruction: Sendable {
        case literal(Unicode.Scalar)
        case any
        case characterClass(Int)
        case split(Int, Int)
        case jump(Int)
        case assertBegin
        case assertEnd
        case match
    }

    /// Ranges of scalars, possibly negated.
    fileprivate struct CharacterClass: Sendable {
        var ranges: [ClosedRange<UInt32>] = []
        var negated = false

        func contains(_ scalar: Unicode.Scalar, folding: Bool) -> Bool {
            var found = self.ranges.contains { $0.contains(scalar.value) }
            if !found, folding {
                let value = scalar.value
                let other: UInt32? =
                    (65...90).contains(value) ? value + 32 : (97...122).contains(value) ? value - 32 : nil
                if let other { found = self.ranges.contains { $0.contains(other) } }
            }
            return found != self.negated
        }
    }

    /// A set of program counters with O(1) insert and clear, in insertion order.
    fileprivate struct StateSet {
        private var sparse: [Int]
        private(set) var members: [Int] = []

        init(capacity: Int) {
            self.sparse = Array(repeating: -1, count: capacity)
            self.members.reserveCapacity(capacity)
        }

        var isEmpty: Bool { self.members.isEmpty }

        /// False when `pc` was already in the set.
        mutating func insert(_ pc: Int) -> Bool {
            let slot = self.sparse[pc]
            if slot >= 0, slot < self.members.count, self.members[slot] == pc { return false }
            self.sparse[pc] = self.members.count
            self.members.append(pc)
            return true
        }

        mutating func removeAll() {
            self.members.removeAll(keepingCapacity: true)
        }
    }

    fileprivate indirect enum Node {
        case empty
        case literal(Unicode.Scalar)
        case any
        case characterClass(CharacterClass)
        case begin
        case end
        case concatenation([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int?)
    }
}

// MARK: - Compiler

extension LinearRegex {
    fileprivate struct Compiler {
        var program: [Instruction] = []
        var classes: [CharacterClass] = []

        mutating func append(_ instruction: Instruction) throws(SyntaxError) {
            guard self.program.count < LinearRegex.maximumProgramSize else {
                throw SyntaxError(reason: "expression too large")
            }
            self.program.append(instruction)
        }

        mutating func emit(_ node: Node) throws(SyntaxError) {
            switch node {
            case .empty: break
            case .literal(let scalar): try self.append(.literal(scalar))
            case .any: try self.append(.any)
            case .characterClass(let characterClass):
                self.classes.append(characterClass)
                try self.append(.characterClass(self.classes.count - 1))
            case .begin: try self.append(.assertBegin)
            case .end: try self.append(.assertEnd)
            case .concatenation(let nodes):
                for node in nodes { try self.emit(node) }
            case .alternation(let branches):
                var jumps: [Int] = []
                for (index, branch) in branches.enumerated() {
                    if index < branches.count - 1 {
                        let split = self.program.count
                        try self.append(.split(split + 1, -1))
                        try self.emit(branch)
                        jumps.append(self.program.count)
                        try self.append(.jump(-1))
                        self.program[split] = .split(split + 1, self.program.count)
                    } else {
                        try self.emit(branch)
                    }
                }
                for jump in jumps { self.program[jump] = .jump(self.program.count) }
            case .repetition(let body, let min, let max):
                for _ in 0..<min { try self.emit(body) }
                if let max {
                    var splits: [Int] = []
                    for _ in min..<max {
                        splits.append(self.program.count)
                        try self.append(.split(self.program.count + 1, -1))
                        try self.emit(body)
                    }
                    for split in splits { self.program[split] = .split(split + 1, self.program.count) }
                } else {
                    let loop = self.program.count
                    try self.append(.split(loop + 1, -1))
                    try self.emit(body)
                    try self.append(.jump(loop))
                    self.program[loop] = .split(loop + 1, self.program.count)
                }
            }
        }
    }
}

// MARK: - Parser

extension LinearRegex {
    fileprivate struct Parser {
        let scalars: [Unicode.Scalar]
        var index = 0

        init(_ scalars: [Unicode.Scalar]) {
            self.scalars = scalars
        }

        var peek: Unicode.Scalar? { self.index < self.scalars.count ? self.scalars[self.index] : nil }

        mutating func next() -> Unicode.Scalar? {
            defer { self.index += 1 }
            return self.peek
        }

        mutating func consume(_ text: String) -> Bool {
            let expected = Array(text.unicodeScalars)
            guard self.scalars.count - self.index >= expected.count,
                Array(self.scalars[self.index..<(self.index + expected.count)]) == expected
            else { return false }
            self.index += expected.count
            return true
        }

        mutating func consumeCaseInsensitiveFlag() -> Bool { self.consume("(?i)") }

        mutating func parse() throws(SyntaxError) -> Node {
            let node = try self.alternation(depth: 0)
            if let extra = self.peek {
                throw SyntaxError(reason: extra == ")" ? "unexpected )" : "unexpected \(extra)")
            }
            return node
        }

        mutating func alternation(depth: Int) throws(SyntaxError) -> Node {
            guard depth < 1000 else { throw SyntaxError(reason: "expression nests too deeply") }
            var branches = [try self.concatenation(depth: depth)]
            while self.peek == "|" {
                self.index += 1
                branches.append(try self.concatenation(depth: depth))
            }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        mutating func concatenation(depth: Int) throws(SyntaxError) -> Node {
            var nodes: [Node] = []
            while let scalar = self.peek, scalar != "|", scalar != ")" {
                nodes.append(try self.repetition(depth: depth))
            }
            switch nodes.count {
            case 0: return .empty
            case 1: return nodes[0]
            default: return .concatenation(nodes)
            }
        }

        mutating func repetition(depth: Int) throws(SyntaxError) -> Node {
            let start = self.index
            if let scalar = self.peek, "*+?".unicodeScalars.contains(scalar) {
                throw SyntaxError(reason: "missing argument to repetition operator: \(scalar)")
            }
            var node = try self.atom(depth: depth)
            var repeated = false
            while let bounds = try self.quantifier() {
                guard !repeated else {
                    let text = String(String.UnicodeScalarView(self.scalars[start..<self.index]))
                    throw SyntaxError(reason: "invalid nested repetition operator: \(text)")
                }
                repeated = true
                // A lazy form matches the same strings; a possessive one RE2 does not have.
                if self.peek == "?" { self.index += 1 }
                node = .repetition(node, min: bounds.min, max: bounds.max)
            }
            return node
        }

        /// `*`, `+`, `?` or a valid `{…}`; nil (and nothing consumed) otherwise.
        mutating func quantifier() throws(SyntaxError) -> (min: Int, max: Int?)? {
            switch self.peek {
            case "*":
                self.index += 1
                return (0, nil)
            case "+":
                self.index += 1
                return (1, nil)
            case "?":
                self.index += 1
                return (0, 1)
            case "{":
                let saved = self.index
                self.index += 1
                guard let min = self.number() else {
                    self.index = saved
                    return nil
                }
                var max: Int? = min
                if self.peek == "," {
                    self.index += 1
                    max = self.number()
                }
                guard self.peek == "}" else {
                    self.index = saved
                    return nil
                }
                self.index += 1
                guard min <= LinearRegex.maximumRepeat, (max ?? min) <= LinearRegex.maximumRepeat, min <= (max ?? min)
                else {
                    throw SyntaxError(reason: "invalid repeat count")
                }
                return (min, max)
            default:
                return nil
            }
        }

        mutating func number() -> Int? {
            var value = 0
            var digits = 0
            while let scalar = self.peek, ("0"..."9").contains(scalar) {
                value = min(value * 10 + Int(scalar.value - 48), 100_000)
                digits += 1
                self.index += 1
            }
            return digits > 0 ? value : nil
        }

        mutating func atom(depth: Int) throws(SyntaxError) -> Node {
            guard let scalar = self.next() else { throw SyntaxError(reason: "unexpected end of pattern") }
            switch scalar {
            case "(":
                let nonCapturing = self.consume("?:")
                if !nonCapturing, self.consume("?P<") || self.consume("?<") {
                    guard !(self.peek == "=" || self.peek == "!") else {
                        throw SyntaxError(reason: "invalid or unsupported Perl syntax: lookbehind")
                    }
                    while let name = self.next(), name != ">" {
                        guard name == "_" || name.properties.isAlphabetic || ("0"..."9").contains(name) else {
                            throw SyntaxError(reason: "invalid named capture")
                        }
                    }
                } else if !nonCapturing, self.peek == "?" {
                    throw SyntaxError(reason: "invalid or unsupported Perl syntax: (?")
                }
                let inner = try self.alternation(depth: depth + 1)
                guard self.next() == ")" else { throw SyntaxError(reason: "missing closing )") }
                return inner
            case ".": return .any
            case "^": return .begin
            case "$": return .end
            case "[": return .characterClass(try self.characterClass())
            case "\\": return try self.escape(inClass: false)
            default: return .literal(scalar)
            }
        }

        mutating func escape(inClass: Bool) throws(SyntaxError) -> Node {
            guard let scalar = self.next() else { throw SyntaxError(reason: "trailing backslash at end of expression") }
            switch scalar {
            case "d", "D", "w", "W", "s", "S":
                var perl = Self.perlClass(scalar)
                if ("A"..."Z").contains(scalar) { perl.negated = true }
                return .characterClass(perl)
            case "n": return .literal("\n")
            case "t": return .literal("\t")
            case "r": return .literal("\r")
            case "f": return .literal("\u{0C}")
            case "v": return .literal("\u{0B}")
            case "A" where !inClass: return .begin
            case "z" where !inClass: return .end
            default:
                // Escaped punctuation stands for itself; escaped letters and digits other than the
                // above (backreferences, \b, \p{…}) are refused.
                guard scalar.isASCII, !scalar.properties.isAlphabetic, !("0"..."9").contains(scalar) else {
                    throw SyntaxError(reason: "invalid escape sequence: \\\(scalar)")
                }
                return .literal(scalar)
            }
        }

        static func perlClass(_ scalar: Unicode.Scalar) -> CharacterClass {
            switch scalar {
            case "d", "D": CharacterClass(ranges: [48...57])
            case "w", "W": CharacterClass(ranges: [48...57, 65...90, 95...95, 97...122])
            default: CharacterClass(ranges: [9...10, 12...13, 32...32])
            }
        }

        static let posixClasses: [String: [ClosedRange<UInt32>]] = [
            "alnum": [48...57, 65...90, 97...122], "alpha": [65...90, 97...122], "ascii": [0...127],
            "blank": [9...9, 32...32], "cntrl": [0...31, 127...127], "digit": [48...57], "graph": [33...126],
            "lower": [97...122], "print": [32...126], "punct": [33...47, 58...64, 91...96, 123...126],
            "space": [9...13, 32...32], "upper": [65...90], "word": [48...57, 65...90, 95...95, 97...122],
            "xdigit": [48...57, 65...70, 97...102],
        ]

        mutating func characterClass() throws(SyntaxError) -> CharacterClass {
            var result = CharacterClass()
            if self.peek == "^" {
                result.negated = true
                self.index += 1
            }
            var first = true
            while true {
                guard let scalar = self.peek else { throw SyntaxError(reason: "missing closing ]") }
                if scalar == "]" && !first {
                    self.index += 1
                    return result
                }
                first = false
                if self.consume("[:") {
                    let negatedPOSIX = self.consume("^")
                    var name = ""
                    while let letter = self.peek, letter != ":" {
                        name.unicodeScalars.append(letter)
                        self.index += 1
                    }
                    guard self.consume(":]"), let ranges = Self.posixClasses[name] else {
                        throw SyntaxError(reason: "invalid character class range: [:\(name):]")
                    }
                    result.ranges += negatedPOSIX ? Self.complement(ranges) : ranges
                    continue
                }
                let low: UInt32
                if scalar == "\\" {
                    self.index += 1
                    switch try self.escape(inClass: true) {
                    case .literal(let literal): low = literal.value
                    case .characterClass(let perl):
                        result.ranges += perl.negated ? Self.complement(perl.ranges) : perl.ranges
                        continue
                    default: throw SyntaxError(reason: "invalid escape in character class")
                    }
                } else {
                    self.index += 1
                    low = scalar.value
                }
                if self.peek == "-", self.index + 1 < self.scalars.count, self.scalars[self.index + 1] != "]" {
                    self.index += 1
                    guard var high = self.next()?.value else { throw SyntaxError(reason: "missing closing ]") }
                    if high == 92 {  // a backslash: an escaped literal as the range's end
                        guard case .literal(let literal) = try self.escape(inClass: true) else {
                            throw SyntaxError(reason: "invalid character class range")
                        }
                        high = literal.value
                    }
                    guard low <= high else { throw SyntaxError(reason: "invalid character class range") }
                    result.ranges.append(low...high)
                } else {
                    result.ranges.append(low...low)
                }
            }
        }

        static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
            var result: [ClosedRange<UInt32>] = []
            var next: UInt32 = 0
            for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
                if range.lowerBound > next { result.append(next...(range.lowerBound - 1)) }
                next = max(next, range.upperBound + 1)
            }
            if next <= 0x10FFFF { result.append(next...0x10FFFF) }
            return result
        }
    }
}
