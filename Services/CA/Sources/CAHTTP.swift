import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MeshCore
import MeshRPC
import MeshServer
import MeshStore
import MeshTLS

/// ca-svc's Consul-compatible REST API: `/v1/connect/ca/roots` (no token needed, blocking
/// queries supported) and `/v1/connect/ca/configuration` (`operator:write`, as in Consul).
struct CAHTTP: Sendable {
    let store: CAStore
    let leaves: LeafService
    let gate: ACLGate
    let crossSignValidity: Duration
    let logger: Logger

    func addRoutes(to router: Router<BasicRequestContext>) {
        let v1 = router.group("v1")
        v1.get("connect/ca/roots") { request, _ in try await self.roots(request) }
        v1.get("connect/ca/configuration") { request, _ in
            let caller = try await self.gate.caller(of: request)
            try caller.require(caller.authorizer.operatorWrite, "operator:write")
            guard let cluster = try await self.store.cluster() else {
                throw ConsulHTTPError(.internalServerError, "CA not initialized")
            }
            let config = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(cluster.config))
            let body: [String: Any] = [
                "Provider": "consul", "Config": config, "State": NSNull(), "ForceWithoutCrossSigning": false,
                "CreateIndex": cluster.createIndex, "ModifyIndex": cluster.modifyIndex,
            ]
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(
                status: .ok,
                headers: headers,
                body: ResponseBody(byteBuffer: .init(bytes: try JSONSerialization.data(withJSONObject: body)))
            )
        }
        v1.put("connect/ca/configuration") { request, _ in try await self.updateConfiguration(request) }
    }

    func roots(_ request: Request) async throws -> Response {
        let blocking = try ConsulHTTP.blockingQuery(of: request)
        let roots = try await self.store.feed.blockingRead([CAStore.rootsTopic], blocking) { _ in
            try await CARootsView.read(self.store)
        }
        if try ConsulHTTP.flag("pem", of: request) {
            var headers = HTTPFields()
            headers[.contentType] = "application/pem-certificate-chain"
            let pems = roots.value.roots.map(\.rootPEM).joined()
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: .init(string: pems)))
        }
        return try ConsulHTTP.indexed(roots.value.consulJSON, index: roots.index)
    }

    /// Updates the provider settings. A new `PrivateKey` (PEM, P-256), or `ForceRootRotation: true`,
    /// makes a new root cross-signed by the current one.
    func updateConfiguration(_ request: Request) async throws -> Response {
        let caller = try await self.gate.caller(of: request)
        try caller.require(caller.authorizer.operatorWrite, "operator:write")
        let body = try LenientObject(try await ConsulHTTP.jsonBody(of: request))
        if let provider = try body.string("Provider"), !provider.isEmpty, provider != "consul" {
            throw ConsulHTTPError(
                .badRequest,
                "Invalid request: Provider: only the built-in \"consul\" provider is supported"
            )
        }
        guard var config = try await self.store.cluster()?.config else {
            throw ConsulHTTPError(.internalServerError, "CA not initialized")
        }
        var rotate = false
        var newKey: P256.Signing.PrivateKey?
        if let settings = try body.object("Config") {
            for key in ["LeafCertTTL", "IntermediateCertTTL", "RootCertTTL"] {
                guard let text = try settings.string(key) else { continue }
                guard let duration = GoDuration.parse(text) else {
                    throw ConsulHTTPError.invalid(
                        ValidationError(field: "Config.\(key)", reason: "invalid duration \"\(text)\"")
                    )
                }
                switch key {
                case "LeafCertTTL":
                    guard duration >= .seconds(3600), duration < .seconds(8760 * 3600) else {
                        throw ConsulHTTPError.invalid(
                            ValidationError(
                                field: "Config.LeafCertTTL",
                                reason: "leaf cert TTL must be between 1h0m0s and 8760h0m0s"
                            )
                        )
                    }
                    config.leafCertTTL = text
                case "IntermediateCertTTL": config.intermediateCertTTL = text
                default: config.rootCertTTL = text
                }
            }
            if let type = try settings.string("PrivateKeyType"), type != "ec" {
                throw ConsulHTTPError.invalid(
                    ValidationError(field: "Config.PrivateKeyType", reason: "only \"ec\" keys are supported")
                )
            }
            if let bits = try settings.int("PrivateKeyBits"), bits != 256 {
                throw ConsulHTTPError.invalid(
                    ValidationError(field: "Config.PrivateKeyBits", reason: "only 256-bit (P-256) keys are supported")
                )
            }
            if let pem = try settings.string("PrivateKey"), !pem.isEmpty {
                do {
                    newKey = try MeshPEM.privateKey(fromPEM: pem)
                } catch {
                    throw ConsulHTTPError.invalid(
                        ValidationError(field: "Config.PrivateKey", reason: "expected a PEM P-256 private key")
                    )
                }
                rotate = true
            }
            if try settings.bool("ForceRootRotation") == true { rotate = true }
        }
        try await self.store.update(config: config)
        if rotate {
            let validity = max(self.crossSignValidity, config.leafTTL)
            let root = try await self.store.rotate(key: newKey, crossSignValidity: validity)
            self.logger.notice(
                "CA root rotated by request",
                metadata: [LogKey.root: "\(root.id)", LogKey.by: "\(caller.accessorID)"]
            )
        }
        self.leaves.invalidate()
        return Response(status: .ok)
    }
}
