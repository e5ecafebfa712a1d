/// Where something sits in HCL or JSON source text, so errors can point at it.
public struct HCLPosition: Sendable, Hashable, CustomStringConvertible {
    /// 1-based line number.
    public var line: Int
    /// 1-based column, counted in Unicode scalars (a tab counts as one column).
    public var column: Int

    /// A position at `line`, `column` (both 1-based).
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// "line 3, column 12", the prefix every error message starts with.
    public var description: String { "line \(self.line), column \(self.column)" }
}

/// A syntax error in HCL or JSON text, pointing at the offending character or token.
public struct HCLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based line of the offending token.
    public var line: Int
    /// 1-based column of the offending token.
    public var column: Int
    /// What was wrong, without the position ("expected '=' or '{' after key \"policy\"").
    public var message: String

    /// An error with `message` at `position`.
    public init(_ message: String, at position: HCLPosition) {
        self.line = position.line
        self.column = position.column
        self.message = message
    }

    /// The offending position.
    public var position: HCLPosition { HCLPosition(line: self.line, column: self.column) }

    /// "line 3, column 12: message".
    public var description: String { "\(self.position): \(self.message)" }
}
