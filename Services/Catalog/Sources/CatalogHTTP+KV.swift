import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MeshCore
import MeshRPC
import MeshServer
import MeshStore
import NIOCore

/// `/v1/kv/:key`: Consul's KV store. Reading needs `key:read` on each key (listings leave out
/// what the caller may not read), writing `key:write`, a recursive delete write on every key
/// under the prefix. Values are bytes (512 KiB at most); `?raw` answers them as they are.
extension CatalogHTTP {
    func addKVRoutes(to v1: RouterGroup<BasicRequestContext>) {
        v1.get("kv") { request, _ in try await self.kvGet(request) }
        v1.get("kv/**") { request, _ in try await self.kvGet(request) }
        v1.put("kv") { request, _ in try await self.kvPut(request) }
        v1.put("kv/**") { request, _ in try await self.kvPut(request) }
        v1.delete("kv") { request, _ in try await self.kvDelete(request) }
        v1.delete("kv/**") { request, _ in try await self.kvDelete(request) }
    }

    private func kvGet(_ request: Request) async throws -> Response {
        let key = try Self.kvKey(of: request)
        let parameters = request.uri.queryParameters
        let caller = try await self.gate.caller(of: request)
        let blocking = try ConsulHTTP.blockingQuery(of: request)
        if parameters.has("keys") {
            // Consul still reads its old spelling, `seperator`.
            let separator = (parameters.get("separator") ?? parameters.get("seperator")).map { String($0) }
            let result = try await self.kvRead(.prefix(key), values: false, blocking)
            let visible = result.value.filter { caller.authorizer.keyRead($0.key) }
            let keys = KVKeys.list(visible.map(\.key), prefix: key, separator: separator)
            // Consul answers an empty listing of the root with [] and of any other prefix with 404.
            let found = keys.isEmpty && !key.isEmpty ? nil : keys
            return try Self.kvAnswer(found, result, filtered: visible.count != result.value.count)
        }
        if parameters.has("recurse") {
            let result = try await self.kvRead(.prefix(key), blocking)
            let visible = result.value.filter { caller.authorizer.keyRead($0.key) }
            return try Self.kvAnswer(
                visible.isEmpty ? nil : visible,
                result,
                filtered: visible.count != result.value.count
            )
        }
        guard !key.isEmpty else { throw ConsulHTTPError(.badRequest, "Missing key name") }
        try caller.require(caller.authorizer.keyRead(key), "key:read", on: key)
        let result = try await self.kvRead(.key(key), blocking)
        guard parameters.has("raw") else { return try Self.kvAnswer(result.value.first.map { [$0] }, result) }
        guard let entry = result.value.first else { return try Self.kvAnswer(nil as [KVEntry]?, result) }
        // As Consul answers since CVE-2020-25864: the value is never sniffed into HTML.
        var headers = ConsulHTTP.indexHeaders(result.index)
        headers[.contentType] = "text/plain"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Content-Security-Policy")!] = "sandbox"
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: entry.value ?? []))
        )
    }

    private func kvPut(_ request: Request) async throws -> Response {
        let key = try Self.kvKey(of: request)
        guard !key.isEmpty else { throw ConsulHTTPError(.badRequest, "Missing key name") }
        let parameters = request.uri.queryParameters
        let flags = try Self.number("flags", of: request) ?? 0
        let cas = try Self.number("cas", of: request)
        let acquire = parameters.get("acquire").map { String($0) }
        let release = parameters.get("release").map { String($0) }
        if [cas != nil, acquire != nil, release != nil].filter({ $0 }).count > 1 {
            throw ConsulHTTPError(.badRequest, "Conflicting flags: " + (request.uri.query ?? ""))
        }
        if acquire?.isEmpty == true || release?.isEmpty == true {
            throw ConsulHTTPError(.badRequest, "missing session")
        }
        let lock: CatalogStore.KVLock = acquire.map { .acquire($0) } ?? release.map { .release($0) } ?? .none
        let caller = try await self.gate.caller(of: request)
        try caller.require(caller.authorizer.keyWrite(key), "key:write", on: key)
        let body = try await ConsulHTTP.body(of: request, limit: KVKeys.maximumValueSize) {
            let size = request.headers[.contentLength].map { "(\($0) bytes)" } ?? ""
            return "Request body\(size) too large, max size: \(KVKeys.maximumValueSize) bytes. See "
                + "https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size."
        }
        let written = try await self.store.kvSet(
            key: key,
            value: Array(body.readableBytesView),
            flags: flags,
            cas: cas,
            lock: lock
        )
        return try ConsulHTTP.json(written)
    }

    private func kvDelete(_ request: Request) async throws -> Response {
        let key = try Self.kvKey(of: request)
        let recurse = request.uri.queryParameters.has("recurse")
        let cas = try Self.number("cas", of: request)
        if recurse && cas != nil {
            throw ConsulHTTPError(.badRequest, "Conflicting flags: " + (request.uri.query ?? ""))
        }
        guard recurse || !key.isEmpty else { throw ConsulHTTPError(.badRequest, "Missing key name") }
        let caller = try await self.gate.caller(of: request)
        if recurse {
            try caller.require(caller.authorizer.keyWritePrefix(key), "key:write", on: key)
        } else {
            try caller.require(caller.authorizer.keyWrite(key), "key:write", on: key)
        }
        return try ConsulHTTP.json(try await self.store.kvDelete(key: key, recurse: recurse, cas: cas))
    }

    private func kvRead(
        _ query: KVQuery,
        values: Bool = true,
        _ blocking: BlockingQuery
    ) async throws -> Indexed<[KVEntry]> {
        try await self.watcher.kv(query, values: values, blocking: blocking)
    }

    /// The answer to a read: the value with the index headers, or 404 with them when there is none.
    private static func kvAnswer<Value: Encodable>(
        _ value: Value?,
        _ result: Indexed<[KVEntry]>,
        filtered: Bool = false
    ) throws -> Response {
        var headers = ConsulHTTP.indexHeaders(result.index)
        if filtered { headers[ConsulHTTP.filteredByACLsHeader] = "true" }
        guard let value else { return Response(status: .notFound, headers: headers) }
        return try ConsulHTTP.json(value, headers: headers)
    }

    /// The key: the path after `/v1/kv/`, percent-decoded, trailing `/` kept.
    static func kvKey(of request: Request) throws -> String {
        var path = Substring(request.uri.path)
        guard path.hasPrefix("/v1/kv") else { throw ConsulHTTPError(.badRequest, "Missing key name") }
        path = path.dropFirst("/v1/kv".count)
        if path.hasPrefix("/") { path = path.dropFirst() }
        guard let key = String(path).removingPercentEncoding, !key.utf8.contains(0) else {
            throw ConsulHTTPError(.badRequest, "Invalid key: it must be UTF-8 without U+0000")
        }
        return key
    }

    /// An unsigned number parameter (`?flags=`, `?cas=`): 400 when it is not one.
    static func number(_ name: String, of request: Request) throws -> UInt64? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let value = UInt64(text) else { throw ConsulHTTPError(.badRequest, "Invalid \(name) value: \(text)") }
        return value
    }
}
