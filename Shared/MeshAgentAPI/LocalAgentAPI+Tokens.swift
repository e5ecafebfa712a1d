import HTTPTypes
public import Hummingbird
import Logging
import MeshCore
import MeshRPC
import Synchronization

/// The tokens set through `PUT /v1/agent/token/:type`, kept in memory only (Consul's default,
/// without `enable_token_persistence`): an agent restarted forgets them.
final class AgentTokens: Sendable {
    private let defaultToken = Mutex<String?>(nil)

    /// The token a caller without one acts as (Consul's `default` token); nil: anonymous.
    var `default`: String? { self.defaultToken.withLock { $0 } }

    func setDefault(_ token: String) {
        self.defaultToken.withLock { $0 = token.isEmpty ? nil : token }
    }
}

/// `PUT /v1/agent/token/:type`, where it applies to this agent (docs/DECISIONS.md):
/// - `default` (and its old name `acl_token`): the token of every caller that sends none, on
///   the agent's own paths and on everything it passes to the control plane; an empty token
///   goes back to anonymous.
/// - `agent`, `agent_recovery`, `replication`, `config_file_service_registration` and `dns`
///   (and their old names) name things this agent does not have: its own token comes from its
///   login and is renewed by it, there is no local recovery, no replication, no configuration
///   file of services and no DNS interface. 400 says so rather than storing a token nothing uses.
/// - anything else: Consul's 404 `Token "x" is unknown`.
///
/// The caller needs `agent:write` on this agent's node, as Consul's agent checks.
extension LocalAgentAPI {
    static let notApplicableTokens: [String: String] = [
        "agent": "its own token comes from its login and is renewed by it",
        "acl_agent_token": "its own token comes from its login and is renewed by it",
        "agent_recovery": "it has no local recovery: the control plane decides every call",
        "agent_master": "it has no local recovery: the control plane decides every call",
        "acl_agent_master_token": "it has no local recovery: the control plane decides every call",
        "replication": "there is no ACL replication between control planes",
        "acl_replication_token": "there is no ACL replication between control planes",
        "config_file_service_registration": "it registers no services from configuration files",
        "dns": "it has no DNS interface", "dns_token": "it has no DNS interface",
    ]

    func addTokenRoutes(to agent: RouterGroup<BasicRequestContext>) {
        agent.put("token/:type") { request, context in
            try await self.relaying {
                let type = try ConsulHTTP.pathParameter("type", context, missing: "Missing token type")
                try await self.require(request, "agent", self.node.name, "write")
                let body = try await ConsulHTTP.lenientBody(of: request, prefix: "Request")
                let token = try body.string("Token") ?? ""
                switch type {
                case "default", "acl_token":
                    self.tokens.setDefault(token)
                case _ where Self.notApplicableTokens[type] != nil:
                    throw ConsulHTTPError(
                        .badRequest,
                        "Token \"\(type)\" does not apply to this agent: \(Self.notApplicableTokens[type] ?? "")"
                    )
                default:
                    throw ConsulHTTPError(.notFound, "Token \"\(type)\" is unknown")
                }
                self.logger.info("updated the agent's ACL token", metadata: [LogKey.kind: "\(type)"])
                return ConsulHTTP.empty()
            }
        }
    }

    /// `request` as the agent serves it: with the `default` token when it carries none.
    public func withDefaultToken(_ request: Request) -> Request {
        guard ConsulHTTP.token(of: request) == nil, let token = self.tokens.default else { return request }
        var head = request.head
        head.headerFields[ConsulHTTP.tokenHeader] = token
        return Request(head: head, body: request.body)
    }
}
