import AWS
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Who logged in, as AWS vouched for it: the values binding rules see.
struct IAMLoginIdentity: Sendable, Equatable {
    /// The role or user name.
    var entityName: String
    /// The role's or user's unique ID (`AROA…`, `AIDA…`), without an assumed role's session.
    var entityID: String
    var accountID: String
    /// With entity details: the path (`/consul-ecs/`) and the tags.
    var entityPath: String
    var entityTags: [String: String]
    /// The ARN matched against `BoundIAMPrincipalARNs`.
    var arn: String

    /// Binding rules' `Selector` fields.
    func selectable(_ config: AWSIAMMethodConfig) -> [String: BindingSelector.Value] {
        var fields: [String: BindingSelector.Value] = [
            "entity_name": .string(self.entityName), "entity_id": .string(self.entityID),
            "account_id": .string(self.accountID),
        ]
        if config.enableIAMEntityDetails {
            fields["entity_path"] = .string(self.entityPath)
            var tags: [String: String] = [:]
            for tag in config.iamEntityTags { tags[tag] = self.entityTags[tag] ?? "" }
            fields["entity_tags"] = .map(tags)
        }
        return fields
    }

    /// `BindName` variables.
    func variables(_ config: AWSIAMMethodConfig) -> [String: String] {
        var variables = ["entity_name": self.entityName, "entity_id": self.entityID, "account_id": self.accountID]
        if config.enableIAMEntityDetails {
            variables["entity_path"] = self.entityPath
            for tag in config.iamEntityTags { variables["entity_tags.\(tag)"] = self.entityTags[tag] ?? "" }
        }
        return variables
    }
}

/// Replays a checked bearer token's requests to STS (and IAM) and decides whether the caller
/// is a bound principal (internal/iamauth/auth.go `ValidateLogin`).
struct IAMIdentityVerifier: Sendable {
    let httpClient: HTTPClient
    var timeout: TimeAmount = .seconds(10)
    var retryDelay: Duration = .milliseconds(500)

    func verify(_ token: IAMBearerToken, config: AWSIAMMethodConfig) async throws(LoginRefusal) -> IAMLoginIdentity {
        let stsBody = try await self.send(token.callerIdentity, retries: config.maxRetries, service: "STS")
        let caller: STSCallerIdentity
        do {
            caller = try STSCallerIdentity(getCallerIdentityResponse: stsBody)
        } catch {
            throw LoginRefusal("error parsing STS response: \(error)")
        }
        guard let principal = AWSPrincipalARN(caller.arn) else {
            throw LoginRefusal("unrecognized arn \(caller.arn)")
        }
        var identity = IAMLoginIdentity(
            entityName: principal.friendlyName,
            // An assumed role's UserId is `AROA…:<session>`; the role's own ID is the part before the colon.
            entityID: String(caller.userID.split(separator: ":", maxSplits: 1).first ?? ""),
            accountID: caller.account,
            entityPath: "",
            entityTags: [:],
            arn: principal.canonicalARN
        )
        if config.enableIAMEntityDetails, let entity = token.entity {
            let body = try await self.send(entity, retries: config.maxRetries, service: "IAM")
            let details: (id: String, arn: String, path: String, tags: [String: String])
            do {
                if token.entityAction == "GetUser" {
                    let user = try IAMUser(getUserResponse: body)
                    details = (user.userID, user.arn, user.path, user.tags)
                } else {
                    let role = try IAMRole(response: body)
                    details = (role.roleID, role.arn, role.path, role.tags)
                }
            } catch {
                throw LoginRefusal("error parsing IAM response: \(error)")
            }
            // Only GetCallerIdentity proves who the caller is: the entity must be that same principal.
            guard details.id == identity.entityID else { throw LoginRefusal("unique id mismatch in login token") }
            identity.arn = details.arn
            identity.entityPath = details.path
            identity.entityTags = details.tags
        }
        guard config.isBound(identity.arn) else {
            throw LoginRefusal("IAM principal \(identity.arn) is not trusted")
        }
        return identity
    }

    /// Sends one replayed request; retries transport errors and 5xx/429 answers up to `retries` times.
    private func send(_ replayed: ReplayedRequest, retries: Int, service: String) async throws(LoginRefusal) -> String {
        var request = HTTPClientRequest(url: replayed.target.absoluteString)
        request.method = .POST
        for header in replayed.headers {
            request.headers.add(name: header.name, value: header.value)
        }
        // The host the client signed for, when the request goes to a configured endpoint.
        if let host = replayed.host { request.headers.replaceOrAdd(name: "Host", value: host) }
        request.body = .bytes(ByteBuffer(string: replayed.body))
        var attempt = 0
        while true {
            let failure: String
            do {
                let response = try await self.httpClient.execute(request, timeout: self.timeout)
                let body = try await response.body.collect(upTo: 1 << 20)
                let text = String(buffer: body)
                let status = Int(response.status.code)
                if status == 200 {
                    guard response.headers.first(name: "Content-Type")?.hasPrefix("text/xml") == true else {
                        throw LoginRefusal("\(service) answered without an XML body")
                    }
                    return text
                }
                guard status >= 500 || status == 429 else {
                    throw LoginRefusal(
                        "\(service) answered \(status): \(text.prefix(300).replacingOccurrences(of: "\n", with: " "))"
                    )
                }
                failure = "\(service) answered \(status)"
            } catch let refusal as LoginRefusal {
                throw refusal
            } catch {
                failure = "\(service) request failed: \(error)"
            }
            guard attempt < retries else { throw LoginRefusal(failure) }
            attempt += 1
            try? await Task.sleep(for: self.retryDelay * attempt)
        }
    }
}
