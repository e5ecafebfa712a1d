/// A service identity in Consul's SPIFFE form: `spiffe://<trust-domain>/ns/<ns>/dc/<dc>/svc/<service>`,
/// or `spiffe://<trust-domain>/ap/<partition>/ns/<ns>/dc/<dc>/svc/<service>` outside the default partition.
///
/// The trust domain is case-insensitive and kept lowercase. Parsing is strict (see ``init(uri:)``);
/// the memberwise initializer does not validate, so build identities from untrusted text with `init?(uri:)`.
public struct SPIFFEID: Sendable, Hashable, CustomStringConvertible {
    /// The trust domain, lowercase (Consul's is `<cluster-id>.consul`).
    public var trustDomain: String
    /// The admin partition; `default` is left out of the URI, as Consul does.
    public var partition: String
    public var namespace: String
    public var datacenter: String
    public var service: String

    public init(
        trustDomain: String,
        namespace: String,
        datacenter: String,
        service: String,
        partition: String = "default"
    ) {
        self.trustDomain = trustDomain.lowercased()
        self.partition = partition.isEmpty ? "default" : partition
        self.namespace = namespace
        self.datacenter = datacenter
        self.service = service
    }

    /// Parses a service identity, or returns `nil` for anything else.
    ///
    /// Requires the `spiffe` scheme (any case), a valid trust domain (no user info, no port), exactly
    /// the service path shape with an optional `/ap/<partition>` in front, and no query or fragment.
    /// Segments must be non-empty, not `.` or `..`, and use only SPIFFE's path characters
    /// (`A-Z a-z 0-9 . - _`), so percent-encoded values are refused rather than decoded.
    public init?(uri: String) {
        let scheme = "spiffe://"
        guard uri.utf8.count > scheme.utf8.count, uri.prefix(scheme.count).lowercased() == scheme else {
            return nil
        }
        let rest = uri.dropFirst(scheme.count)
        guard !rest.contains("?"), !rest.contains("#"), let slash = rest.firstIndex(of: "/") else { return nil }
        let host = String(rest[..<slash])
        guard Self.isValidTrustDomain(host) else { return nil }
        var segments = rest[rest.index(after: slash)...].split(separator: "/", omittingEmptySubsequences: false)
        var partition = "default"
        if segments.count == 8, segments[0] == "ap" {
            partition = String(segments[1])
            segments.removeFirst(2)
        }
        guard segments.count == 6, segments[0] == "ns", segments[2] == "dc", segments[4] == "svc",
            [segments[1], segments[3], segments[5], Substring(partition)].allSatisfy(Self.isValidSegment)
        else { return nil }
        self.init(
            trustDomain: host,
            namespace: String(segments[1]),
            datacenter: String(segments[3]),
            service: String(segments[5]),
            partition: partition
        )
    }

    /// The URI form, with `/ap/<partition>` only outside the default partition.
    public var uri: String {
        var path = "/ns/\(self.namespace)/dc/\(self.datacenter)/svc/\(self.service)"
        if !self.partition.isEmpty, self.partition != "default" {
            path = "/ap/\(self.partition)" + path
        }
        return "spiffe://\(self.trustDomain)\(path)"
    }

    public var description: String { self.uri }

    /// Whether `name` is a usable trust domain: dot-separated labels of 1–63 letters, digits, `-` or
    /// `_` (SPIFFE also allows `_`), no label starting or ending with `-`, at most 255 bytes in all.
    /// Case-insensitive. For example `11111111-2222-3333-4444-555555555555.consul`.
    public static func isValidTrustDomain(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-" else { return false }
            return label.utf8.allSatisfy { byte in
                Self.isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
        }
    }

    private static func isValidSegment(_ segment: Substring) -> Bool {
        guard !segment.isEmpty, segment != ".", segment != ".." else { return false }
        return segment.utf8.allSatisfy { byte in
            Self.isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: ".")
        }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
