#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A Consul service identity: `spiffe://<td>/ns/<ns>/dc/<dc>/svc/<service>`, optionally with
/// an admin partition, `spiffe://<td>/ap/<partition>/ns/<ns>/dc/<dc>/svc/<service>`.
public struct SPIFFEServiceID: Sendable, Hashable, CustomStringConvertible {
    /// The trust domain (the URI's host), such as `7f3e…-….consul`.
    public var trustDomain: String
    /// The admin partition; `default` when the URI has no `/ap/` segment.
    public var partition: String
    /// The namespace.
    public var namespace: String
    /// The datacenter.
    public var datacenter: String
    /// The service name.
    public var service: String

    /// Creates an ID from its parts.
    public init(
        trustDomain: String,
        partition: String = "default",
        namespace: String = "default",
        datacenter: String,
        service: String
    ) {
        self.trustDomain = trustDomain
        self.partition = partition
        self.namespace = namespace
        self.datacenter = datacenter
        self.service = service
    }

    /// Parses a service ID; nil for anything else (agent and CA IDs, other schemes, extra
    /// segments, empty segments, queries or fragments). Segments are percent-decoded.
    public init?(uri: String) {
        guard let (host, path) = Self.split(uri), !host.isEmpty else { return nil }
        guard !path.contains("?"), !path.contains("#") else { return nil }
        var segments = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard segments.first == "" else { return nil }
        segments.removeFirst()
        var partition = "default"
        if segments.count == 8, segments[0] == "ap" {
            partition = segments[1]
            segments.removeFirst(2)
        }
        guard segments.count == 6, segments[0] == "ns", segments[2] == "dc", segments[4] == "svc" else {
            return nil
        }
        let decoded = [partition, segments[1], segments[3], segments[5]].map { Self.percentDecoded($0) ?? "" }
        guard decoded.allSatisfy({ !$0.isEmpty }) else { return nil }
        self.init(
            trustDomain: host,
            partition: decoded[0],
            namespace: decoded[1],
            datacenter: decoded[2],
            service: decoded[3]
        )
    }

    /// The URI, as Consul formats it: the `/ap/` segment only for a partition other than `default`.
    public var uri: String {
        let path = "/ns/\(self.namespace)/dc/\(self.datacenter)/svc/\(self.service)"
        let partitionPath = self.partition == "default" ? "" : "/ap/\(self.partition)"
        return "spiffe://\(self.trustDomain)\(partitionPath)\(path)"
    }

    /// The URI.
    public var description: String { self.uri }

    /// The trust domain of any `spiffe://` URI, or nil when the URI is not a SPIFFE ID.
    static func trustDomain(of uri: String) -> String? {
        Self.split(uri)?.host
    }

    /// Splits `spiffe://host/path` (scheme case-insensitive) into host and path. The host may
    /// not carry user info or a port.
    private static func split(_ uri: String) -> (host: String, path: String)? {
        let scheme = "spiffe://"
        guard uri.count > scheme.count, uri.prefix(scheme.count).lowercased() == scheme else { return nil }
        let rest = uri.dropFirst(scheme.count)
        let host = rest.prefix { $0 != "/" }
        guard !host.isEmpty, !host.contains(where: { "@:?#".contains($0) }) else { return nil }
        return (String(host), String(rest.dropFirst(host.count)))
    }

    /// `%XX`-decodes a path segment; nil for a malformed escape or bytes that are not UTF-8.
    static func percentDecoded(_ text: some StringProtocol) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue)
            else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
