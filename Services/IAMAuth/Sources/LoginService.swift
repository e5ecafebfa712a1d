import Foundation
import GRPCCore
import Logging
import MeshCore
import MeshProto
import MeshServer
import Metrics
import PostgresNIO
import SwiftProtobuf

/// `POST /v1/acl/login`: verifies an `aws-iam` bearer token with AWS, applies the method's
/// binding rules and has authz-svc mint a token with the result.
struct LoginService: Sendable {
    let store: IAMAuthStore
    let verifier: IAMIdentityVerifier
    let tokens: LoginTokensClient
    /// Permits for the AWS calls a login makes; taken after the token's own checks.
    let limiter: RateLimiter
    let datacenter: String
    let logger: Logger

    /// Why a login did not produce a token, as the HTTP layer answers it.
    enum Failure: Error, Sendable, Equatable {
        /// No such method: 403 `ACL not found: auth method "x" not found`, as Consul.
        case unknownMethod(String)
        /// Anything the caller could learn from: 403 `Permission denied`; the reason is logged only.
        case refused(String)
        /// authz-svc could not be reached or failed (500).
        case unavailable(String)
        /// Too many logins at once: 429, retry later (nothing was sent to AWS).
        case rateLimited
    }

    /// Logs in; returns Consul's token JSON (with the secret, shown this once).
    func login(method name: String, bearerToken: String, meta: [String: String]) async throws(Failure) -> Data {
        let started = ContinuousClock.now
        let method: AuthMethod
        let rules: [BindingRule]
        do {
            guard let found = try await self.store.method(named: name) else { throw Failure.unknownMethod(name) }
            method = found
            rules = try await self.store.rules(where: "auth_method = \(found.name)")
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .unavailable("\(error)")
        }
        do {
            let token = try IAMBearerToken(bearerToken, config: method.config)
            guard self.limiter.tryAcquire() else { throw Failure.rateLimited }
            let identity = try await self.verifier.verify(token, config: method.config)
            let grant = try LoginGrant.bind(
                rules,
                selectable: identity.selectable(method.config),
                variables: identity.variables(method.config),
                bindVariables: method.config.bindVariables
            )
            guard !grant.isEmpty else { throw LoginRefusal("no binding rule matched \(identity.arn)") }
            let reply = try await self.mint(grant, method: method, meta: meta)
            self.logger.info(
                "login",
                metadata: [
                    LogKey.authMethod: "\(method.name)", LogKey.arn: "\(identity.arn)",
                    LogKey.accessor: "\(reply.accessorID)",
                    LogKey.services: "\(grant.serviceIdentities.joined(separator: ","))",
                ]
            )
            Counter(label: "mesh_iam_logins_total", dimensions: [("result", "ok")]).increment()
            Timer(label: "mesh_iam_login_seconds").recordNanoseconds((ContinuousClock.now - started).totalNanoseconds)
            return try JSONEncoder().encode(reply.token.consulJSON)
        } catch let refusal as LoginRefusal {
            Counter(label: "mesh_iam_logins_total", dimensions: [("result", "refused")]).increment()
            self.logger.warning(
                "login refused",
                metadata: [LogKey.authMethod: "\(method.name)", LogKey.reason: "\(refusal.reason)"]
            )
            throw .refused(refusal.reason)
        } catch let error as RPCError where error.code == .permissionDenied {
            // authz-svc found nothing to grant (every bound role or policy missing): as Consul, a refusal.
            Counter(label: "mesh_iam_logins_total", dimensions: [("result", "refused")]).increment()
            self.logger.warning(
                "login refused",
                metadata: [LogKey.authMethod: "\(method.name)", LogKey.reason: "\(error.message)"]
            )
            throw .refused(error.message)
        } catch Failure.rateLimited {
            Counter(label: "mesh_iam_logins_total", dimensions: [("result", "rate_limited")]).increment()
            throw .rateLimited
        } catch {
            Counter(label: "mesh_iam_logins_total", dimensions: [("result", "error")]).increment()
            self.logger.error(
                "login failed",
                metadata: [LogKey.authMethod: "\(method.name)", LogKey.error: "\(error)"]
            )
            throw .unavailable("\(error)")
        }
    }

    private func mint(
        _ grant: LoginGrant,
        method: AuthMethod,
        meta: [String: String]
    ) async throws
        -> Mesh_V1_LoginTokenReply
    {
        try await self.tokens.create(
            .with {
                $0.authMethod = method.name
                $0.description_p = Self.description(meta: meta)
                $0.serviceIdentities = grant.serviceIdentities.map { name in .with { $0.serviceName = name } }
                $0.nodeIdentities = grant.nodeIdentities.map { name in
                    .with {
                        $0.nodeName = name
                        $0.datacenter = self.datacenter
                    }
                }
                $0.roleNames = grant.roles
                $0.policyNames = grant.policies
                $0.ttlSeconds = method.maxTokenTTL.map { Int64(($0 / .seconds(1)).rounded(.up)) } ?? 0
                $0.local = method.tokenLocality != "global"
            }
        )
    }

    /// Consul's description of a login token: `token created via login[: {"k":"v",…}]` (keys sorted).
    static func description(meta: [String: String]) -> String {
        guard !meta.isEmpty,
            let data = try? JSONSerialization.data(
                withJSONObject: meta,
                options: [.sortedKeys, .withoutEscapingSlashes]
            )
        else {
            return "token created via login"
        }
        return "token created via login: " + String(decoding: data, as: UTF8.self)
    }
}
