public import AsyncHTTPClient
import Foundation
public import Logging
public import MeshClient
public import MeshCore
import NIOHTTP1

/// mesh-agent's work beside an application: log in (AWS IAM), register the application's
/// instance, hand the token to the proxy through a file; at shutdown deregister and log out.
public struct Agent: Sendable {
    public var api: ConsulAPI
    public var logger: Logger

    public init(api: ConsulAPI, logger: Logger) {
        self.api = api
        self.logger = logger
    }

    /// Logs in with `method` (the task role signs the request) and returns the token's secret.
    public func login(
        method: String,
        options: IAMLoginOptions,
        environment: [String: String],
        httpClient: HTTPClient
    ) async throws -> String {
        let bearer = try await options.bearerToken(environment: environment, httpClient: httpClient)
        let meta = try await ECSTaskMetadata.fetch(environment: environment, httpClient: httpClient)?.loginMeta ?? [:]
        let token = try await self.api.login(method: method, bearerToken: bearer, meta: meta)
        self.logger.info(
            "logged in",
            metadata: [
                LogKey.accessor: "\(token.AccessorID)", LogKey.authMethod: "\(method)",
                LogKey.services: "\((token.ServiceIdentities ?? []).map(\.ServiceName).joined(separator: ","))",
            ]
        )
        return token.SecretID
    }

    /// Registers the instance and its sidecar proxy with `token` (and, when given, the
    /// health-sync check's status on both).
    public func register(
        _ instance: AppInstance,
        token: String,
        health: (CheckStatus, String)? = nil
    ) async throws {
        for body in instance.registrations(health: health) {
            _ = try await self.api.with(token: token).call(.PUT, "/v1/catalog/register", json: body)
        }
        self.logger.info(
            "registered",
            metadata: [LogKey.service: "\(instance.service)", LogKey.serviceID: "\(instance.serviceID)"]
        )
    }

    /// Passes the agent-liveness checks (`PUT /v1/agent/check/pass/:id?node=`).
    public func heartbeat(_ instance: AppInstance, token: String) async throws {
        for id in instance.livenessCheckIDs {
            let path = "/v1/agent/check/pass/\(ConsulAPI.escape(id))?node=\(ConsulAPI.escape(instance.node))"
            _ = try await self.api.with(token: token).call(.PUT, path)
        }
    }

    /// Deregisters the instance and its sidecar and, when the token came from a login, logs out; both are tried
    /// even if the first fails, and the first failure is rethrown.
    public func shutdown(_ instance: AppInstance, token: String, logout: Bool) async throws {
        var failure: (any Error)?
        do {
            for body in instance.deregistrations {
                _ = try await self.api.with(token: token).call(.PUT, "/v1/catalog/deregister", json: body)
            }
            self.logger.info("deregistered", metadata: [LogKey.serviceID: "\(instance.serviceID)"])
        } catch {
            self.logger.error("deregistration failed", metadata: [LogKey.error: "\(error)"])
            failure = error
        }
        if logout {
            do {
                try await self.api.with(token: token).logout()
                self.logger.info("logged out")
            } catch {
                self.logger.error("logout failed", metadata: [LogKey.error: "\(error)"])
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
    }
}
