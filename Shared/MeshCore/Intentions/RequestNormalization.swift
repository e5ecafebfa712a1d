/// How a proxy's public listener normalizes requests before the L7 intentions see them and the
/// app receives them: the `mesh` config entry's `HTTP.Incoming.RequestNormalization`.
///
/// Our defaults are stricter than Consul's (which normalizes the path but neither merges
/// slashes nor touches escaped slashes, so `//admin` passes a deny on `/admin` there): the
/// path is normalized, runs of slashes are merged, and a path with an escaped slash (`%2F`,
/// `%5C`) is refused. An entry's block replaces them field by field; a field it leaves out
/// keeps our default (see docs/DECISIONS.md).
public struct RequestNormalization: Sendable, Hashable, Codable {
    /// What to do with `%2F` and `%5C` in a path (Envoy's `path_with_escaped_slashes_action`).
    public enum EscapedSlashesAction: String, Sendable, Hashable, Codable, CaseIterable {
        case keepUnchanged = "KEEP_UNCHANGED"
        case rejectRequest = "REJECT_REQUEST"
        case unescapeAndRedirect = "UNESCAPE_AND_REDIRECT"
        case unescapeAndForward = "UNESCAPE_AND_FORWARD"
    }

    /// What to do with a header whose name has an underscore (Envoy's
    /// `headers_with_underscores_action`).
    public enum UnderscoresAction: String, Sendable, Hashable, Codable, CaseIterable {
        case allow = "ALLOW"
        case rejectRequest = "REJECT_REQUEST"
        case dropHeader = "DROP_HEADER"
    }

    /// Match and forward the path exactly as received (no decoding, no dot segments removed).
    public var insecureDisablePathNormalization: Bool
    /// Collapse runs of `/` into one.
    public var mergeSlashes: Bool
    public var pathWithEscapedSlashesAction: EscapedSlashesAction
    public var headersWithUnderscoresAction: UnderscoresAction

    public init(
        insecureDisablePathNormalization: Bool = false,
        mergeSlashes: Bool = true,
        pathWithEscapedSlashesAction: EscapedSlashesAction = .rejectRequest,
        headersWithUnderscoresAction: UnderscoresAction = .allow
    ) {
        self.insecureDisablePathNormalization = insecureDisablePathNormalization
        self.mergeSlashes = mergeSlashes
        self.pathWithEscapedSlashesAction = pathWithEscapedSlashesAction
        self.headersWithUnderscoresAction = headersWithUnderscoresAction
    }

    /// Ours: normalize, merge slashes, refuse escaped slashes, allow underscores.
    public static let `default` = RequestNormalization()
}

/// What becomes of a request target after normalization.
public enum NormalizedTarget: Sendable, Hashable {
    /// Match the intentions on this target and send it to the app.
    case forward(String)
    /// Answer `307` with this target as `Location` (`UNESCAPE_AND_REDIRECT`).
    case redirect(String)
    /// Answer `400`; the reason is for the log.
    case reject(String)
}

extension RequestNormalization {
    /// Normalizes an origin-form request target (`/path?query`) as Envoy's HTTP connection
    /// manager does with these settings, so that no spelling of a path reaches the app that
    /// the intentions did not see:
    ///
    /// 1. The target must be origin-form (`/…`) or `*`; a fragment (`#`) is refused.
    /// 2. Each `%XY` must be valid hex. `%2F` and `%5C` (escaped slashes) are kept, refused or
    ///    decoded to `/` as `pathWithEscapedSlashesAction` says (decoding for a redirect answers
    ///    with the result instead of forwarding it).
    /// 3. Unless normalization is disabled: escapes of unreserved characters (`%61` is `a`)
    ///    are decoded, other escapes get uppercase hex, `\` becomes `/`, then (when
    ///    `mergeSlashes`) runs of `/` collapse, then `.` and `..` segments are removed (RFC 3986
    ///    §5.2.4; `..` never climbs above `/`).
    ///
    /// The query is passed on untouched. The result is its own fixed point.
    public func normalize(target: String) -> NormalizedTarget {
        if target == "*" { return .forward(target) }
        guard target.utf8.first == UInt8(ascii: "/") else {
            return .reject("request target is not origin-form (must start with /)")
        }
        let bytes = Array(target.utf8)
        if bytes.contains(UInt8(ascii: "#")) { return .reject("request target has a fragment") }
        let queryStart = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.endIndex
        let query = bytes[queryStart...]
        var path: [UInt8] = []
        path.reserveCapacity(queryStart)
        var unescapedSlash = false
        var index = 0
        while index < queryStart {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "%") else {
                path.append(
                    byte == UInt8(ascii: "\\") && !self.insecureDisablePathNormalization ? UInt8(ascii: "/") : byte
                )
                index += 1
                continue
            }
            guard index + 2 < queryStart, let high = Self.hex(bytes[index + 1]), let low = Self.hex(bytes[index + 2])
            else {
                return .reject("path has an invalid percent-encoding")
            }
            let decoded = high << 4 | low
            index += 3
            if decoded == UInt8(ascii: "/") || decoded == UInt8(ascii: "\\") {
                switch self.pathWithEscapedSlashesAction {
                case .rejectRequest:
                    return .reject("path has an escaped slash (%2F or %5C)")
                case .unescapeAndForward, .unescapeAndRedirect:
                    path.append(UInt8(ascii: "/"))
                    unescapedSlash = true
                    continue
                case .keepUnchanged:
                    break
                }
            } else if !self.insecureDisablePathNormalization && Self.isUnreserved(decoded) {
                path.append(decoded)
                continue
            }
            if self.insecureDisablePathNormalization {
                path.append(contentsOf: bytes[(index - 3)..<index])
            } else {
                path.append(contentsOf: [UInt8(ascii: "%"), Self.upperHex(high), Self.upperHex(low)])
            }
        }
        if self.mergeSlashes { path = Self.mergingSlashes(path) }
        if !self.insecureDisablePathNormalization { path = Self.removingDotSegments(path) }
        let result = String(decoding: path + query, as: UTF8.self)
        if unescapedSlash && self.pathWithEscapedSlashesAction == .unescapeAndRedirect {
            return .redirect(result)
        }
        return .forward(result)
    }

    /// Whether a header may pass, must be dropped, or refuses the request (names with `_`).
    public func admits(headerNamed name: String) -> UnderscoresAction {
        guard name.utf8.contains(UInt8(ascii: "_")) else { return .allow }
        return self.headersWithUnderscoresAction
    }

    static func mergingSlashes(_ path: [UInt8]) -> [UInt8] {
        var merged: [UInt8] = []
        merged.reserveCapacity(path.count)
        for byte in path where !(byte == UInt8(ascii: "/") && merged.last == UInt8(ascii: "/")) {
            merged.append(byte)
        }
        return merged
    }

    /// RFC 3986 §5.2.4 on an absolute path: `.` segments go, `..` removes the segment before it.
    static func removingDotSegments(_ path: [UInt8]) -> [UInt8] {
        let segments = path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        var output: [ArraySlice<UInt8>] = []
        let dot: [UInt8] = [UInt8(ascii: ".")]
        let dotDot: [UInt8] = [UInt8(ascii: "."), UInt8(ascii: ".")]
        var trailingSlash = false
        for segment in segments {
            trailingSlash = false
            if segment.elementsEqual(dot) {
                trailingSlash = true
            } else if segment.elementsEqual(dotDot) {
                if !output.isEmpty { output.removeLast() }
                trailingSlash = true
            } else {
                output.append(segment)
            }
        }
        var result: [UInt8] = []
        for segment in output {
            result.append(UInt8(ascii: "/"))
            result.append(contentsOf: segment)
        }
        if result.isEmpty || trailingSlash { result.append(UInt8(ascii: "/")) }
        return result
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default: false
        }
    }

    private static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func upperHex(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") + nibble - 10
    }
}
