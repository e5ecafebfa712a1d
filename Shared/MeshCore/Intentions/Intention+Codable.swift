#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Consul's JSON for an intention, as `GET /v1/connect/intentions/exact` serves it and
/// `PUT /v1/connect/intentions/exact` reads it.
///
/// Encoding mirrors the Go struct tags: `SourceNS`, `SourceName`, `DestinationNS`, `DestinationName`,
/// `SourceType`, `Precedence`, `CreateIndex` and `ModifyIndex` always appear; everything else is
/// `omitempty` (`CreatedAt`/`UpdatedAt` too, which Consul drops when zero). Decoding mirrors
/// `lib.DecodeJSON`: all fields optional, names matched case-insensitively, unknown fields rejected.
/// `DefaultAddr`/`DefaultPort` (deprecated, unused) are accepted and dropped.
extension Intention: Codable {
    static let jsonFields = [
        "ID", "Description", "SourceNS", "SourceName", "DestinationNS", "DestinationName", "SourcePartition",
        "DestinationPartition", "SourcePeer", "SourceSamenessGroup", "SourceType", "Action", "Permissions", "JWT",
        "DefaultAddr", "DefaultPort", "Meta", "Precedence", "CreatedAt", "UpdatedAt", "Hash", "CreateIndex",
        "ModifyIndex",
    ]

    public init(from decoder: any Decoder) throws {
        let json = try IntentionJSONReader(decoder, fields: Self.jsonFields)
        self.init(
            id: try json.read(String.self, "ID") ?? "",
            description: try json.read(String.self, "Description") ?? "",
            sourceNamespace: try json.read(String.self, "SourceNS") ?? "",
            sourceName: try json.read(String.self, "SourceName") ?? "",
            destinationNamespace: try json.read(String.self, "DestinationNS") ?? "",
            destinationName: try json.read(String.self, "DestinationName") ?? "",
            sourcePartition: try json.read(String.self, "SourcePartition") ?? "",
            destinationPartition: try json.read(String.self, "DestinationPartition") ?? "",
            sourcePeer: try json.read(String.self, "SourcePeer") ?? "",
            sourceSamenessGroup: try json.read(String.self, "SourceSamenessGroup") ?? "",
            sourceType: try json.read(String.self, "SourceType") ?? "",
            action: try json.read(IntentionAction.self, "Action") ?? .none,
            permissions: try json.read([IntentionPermission].self, "Permissions") ?? [],
            jwt: try json.read(JSONValue.self, "JWT"),
            meta: try json.read([String: String].self, "Meta") ?? [:],
            precedence: try json.read(Int.self, "Precedence"),
            createIndex: try json.read(ModifyIndex.self, "CreateIndex") ?? 0,
            modifyIndex: try json.read(ModifyIndex.self, "ModifyIndex") ?? 0,
            createdAt: try json.read(String.self, "CreatedAt").flatMap(GoTimeText.parse),
            updatedAt: try json.read(String.self, "UpdatedAt").flatMap(GoTimeText.parse),
            hash: try json.read(String.self, "Hash") ?? ""
        )
        _ = try json.read(String.self, "DefaultAddr")
        _ = try json.read(Int.self, "DefaultPort")
    }

    public func encode(to encoder: any Encoder) throws {
        var json = IntentionJSONWriter(encoder)
        try json.omitting(self.createdAt.map(GoTimeText.format), "CreatedAt")
        try json.omitting(self.updatedAt.map(GoTimeText.format), "UpdatedAt")
        try json.omitting(self.id, "ID")
        try json.omitting(self.description, "Description")
        try json.write(self.sourceNamespace, "SourceNS")
        try json.write(self.sourceName, "SourceName")
        try json.write(self.destinationNamespace, "DestinationNS")
        try json.write(self.destinationName, "DestinationName")
        try json.omitting(self.sourcePartition, "SourcePartition")
        try json.omitting(self.destinationPartition, "DestinationPartition")
        try json.omitting(self.sourcePeer, "SourcePeer")
        try json.omitting(self.sourceSamenessGroup, "SourceSamenessGroup")
        try json.write(self.sourceType, "SourceType")
        try json.omitting(self.action.rawValue, "Action")
        try json.omitting(self.permissions, "Permissions")
        try json.omitting(self.jwt, "JWT")
        try json.omitting(self.meta, "Meta")
        try json.write(self.precedence, "Precedence")
        try json.omitting(self.hash, "Hash")
        try json.write(self.createIndex, "CreateIndex")
        try json.write(self.modifyIndex, "ModifyIndex")
    }
}

/// An action is a plain JSON string; any string decodes, validation judges it.
extension IntentionAction: Codable {
    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.rawValue)
    }
}

/// `{"Action": ..., "HTTP": {...}, "JWT": {...}}`: `Action` always written, the others `omitempty`.
extension IntentionPermission: Codable {
    public init(from decoder: any Decoder) throws {
        let json = try IntentionJSONReader(decoder, fields: ["Action", "HTTP", "JWT"])
        self.init(
            action: try json.read(IntentionAction.self, "Action") ?? .none,
            http: try json.read(IntentionHTTPPermission.self, "HTTP"),
            jwt: try json.read(JSONValue.self, "JWT")
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var json = IntentionJSONWriter(encoder)
        try json.write(self.action, "Action")
        try json.omitting(self.http, "HTTP")
        try json.omitting(self.jwt, "JWT")
    }
}

/// `{"PathExact", "PathPrefix", "PathRegex", "Header": [...], "Methods": [...]}`, all `omitempty`.
extension IntentionHTTPPermission: Codable {
    public init(from decoder: any Decoder) throws {
        let json = try IntentionJSONReader(
            decoder,
            fields: ["PathExact", "PathPrefix", "PathRegex", "Header", "Methods"]
        )
        self.init(
            pathExact: try json.read(String.self, "PathExact") ?? "",
            pathPrefix: try json.read(String.self, "PathPrefix") ?? "",
            pathRegex: try json.read(String.self, "PathRegex") ?? "",
            header: try json.read([IntentionHTTPHeaderPermission].self, "Header") ?? [],
            methods: try json.read([String].self, "Methods") ?? []
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var json = IntentionJSONWriter(encoder)
        try json.omitting(self.pathExact, "PathExact")
        try json.omitting(self.pathPrefix, "PathPrefix")
        try json.omitting(self.pathRegex, "PathRegex")
        try json.omitting(self.header, "Header")
        try json.omitting(self.methods, "Methods")
    }
}

/// `{"Name", "Present", "Exact", "Prefix", "Suffix", "Contains", "Regex", "Invert", "IgnoreCase"}`:
/// `Name` always written, the rest `omitempty`.
extension IntentionHTTPHeaderPermission: Codable {
    public init(from decoder: any Decoder) throws {
        let json = try IntentionJSONReader(
            decoder,
            fields: ["Name", "Present", "Exact", "Prefix", "Suffix", "Contains", "Regex", "Invert", "IgnoreCase"]
        )
        self.init(
            name: try json.read(String.self, "Name") ?? "",
            present: try json.read(Bool.self, "Present") ?? false,
            exact: try json.read(String.self, "Exact") ?? "",
            prefix: try json.read(String.self, "Prefix") ?? "",
            suffix: try json.read(String.self, "Suffix") ?? "",
            contains: try json.read(String.self, "Contains") ?? "",
            regex: try json.read(String.self, "Regex") ?? "",
            invert: try json.read(Bool.self, "Invert") ?? false,
            ignoreCase: try json.read(Bool.self, "IgnoreCase") ?? false
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var json = IntentionJSONWriter(encoder)
        try json.write(self.name, "Name")
        try json.omitting(self.present, "Present")
        try json.omitting(self.exact, "Exact")
        try json.omitting(self.prefix, "Prefix")
        try json.omitting(self.suffix, "Suffix")
        try json.omitting(self.contains, "Contains")
        try json.omitting(self.regex, "Regex")
        try json.omitting(self.invert, "Invert")
        try json.omitting(self.ignoreCase, "IgnoreCase")
    }
}
