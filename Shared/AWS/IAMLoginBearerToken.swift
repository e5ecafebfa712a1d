import Foundation

/// Consul's `aws-iam` login bearer token, made on the workload's side: a signed (not sent)
/// `sts:GetCallerIdentity` request, and optionally a signed `iam:GetRole`/`iam:GetUser` request
/// carried in its `X-Consul-IAM-GetEntity-*` headers, as JSON with base64 fields.
///
/// The server replays the requests to AWS; only AWS can vouch for the signature, so the token
/// proves the caller holds the role's credentials without the server ever seeing them.
public struct IAMLoginBearerToken: Sendable {
    /// The header whose signed value ties a token to one cluster (`ServerIDHeaderValue`).
    public static let serverIDHeader = "X-Consul-IAM-ServerID"
    /// The embedded entity request's method, URL, headers (JSON) and body.
    public static let entityMethodHeader = "X-Consul-IAM-GetEntity-Method"
    public static let entityURLHeader = "X-Consul-IAM-GetEntity-URL"
    public static let entityHeadersHeader = "X-Consul-IAM-GetEntity-Headers"
    public static let entityBodyHeader = "X-Consul-IAM-GetEntity-Body"

    let sts: STSClient
    let iam: IAMClient
    let lookup: STSClient

    /// - Parameters:
    ///   - sts: signs `GetCallerIdentity` for its endpoint and region (the auth method's `STSEndpoint`/`STSRegion`).
    ///   - iam: signs the entity request for its endpoint (the auth method's `IAMEndpoint`).
    ///   - lookup: where `GetCallerIdentity` is really called to learn the role's name (default `sts`):
    ///     a client may sign for AWS's global host while it reaches STS through another endpoint.
    public init(sts: STSClient, iam: IAMClient, lookup: STSClient? = nil) {
        self.sts = sts
        self.iam = iam
        self.lookup = lookup ?? sts
    }

    /// The bearer token JSON, as `consul login -type aws-iam` sends it.
    ///
    /// - Parameters:
    ///   - includeEntity: embed the signed `GetRole`/`GetUser` (needed when the method has `EnableIAMEntityDetails`);
    ///     this calls `GetCallerIdentity` once to learn the role or user name.
    ///   - serverIDHeaderValue: the method's `ServerIDHeaderValue`, signed into both requests.
    public func make(includeEntity: Bool, serverIDHeaderValue: String? = nil) async throws(AWSClientError) -> String {
        let credentials: AWSCredentials
        do throws(AWSCredentialsError) {
            credentials = try await self.sts.transport.credentialsProvider.credentials()
        } catch {
            throw .credentials(error)
        }
        var extra: [(name: String, value: String)] = []
        if let serverIDHeaderValue, !serverIDHeaderValue.isEmpty {
            extra.append((Self.serverIDHeader, serverIDHeaderValue))
        }
        var headers = extra
        if includeEntity {
            let identity = try await self.lookup.getCallerIdentity()
            guard let principal = AWSPrincipalARN(identity.arn) else {
                throw .malformedResponse(operation: "GetCallerIdentity", reason: "unrecognized ARN \(identity.arn)")
            }
            let entity = try self.iam.signedGetEntityRequest(
                roleName: principal.isRole ? principal.friendlyName : nil,
                userName: principal.isRole ? nil : principal.friendlyName,
                credentials: credentials,
                additionalHeaders: extra
            )
            headers += [
                (Self.entityMethodHeader, entity.method),
                (Self.entityURLHeader, entity.url.absoluteString),
                (Self.entityHeadersHeader, Self.headersJSON(entity.headers)),
                (Self.entityBodyHeader, String(decoding: entity.body, as: UTF8.self)),
            ]
        }
        let signed = try self.sts.signedGetCallerIdentityRequest(
            credentials: credentials,
            additionalHeaders: headers,
            date: Date()
        )
        return Self.encode(signed)
    }

    /// The token JSON for an already signed `GetCallerIdentity` request.
    public static func encode(_ request: AWSSignedHTTPRequest) -> String {
        let fields = [
            "iam_http_request_method": request.method,
            "iam_request_url": Data(request.url.absoluteString.utf8).base64EncodedString(),
            "iam_request_headers": Data(Self.headersJSON(request.headers).utf8).base64EncodedString(),
            "iam_request_body": Data(request.body).base64EncodedString(),
        ]
        let data =
            (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Headers as Go's `http.Header` marshals them (`{"Name": ["value"]}`), which Consul's server reads.
    /// `Host` is left out: the URL names the host, and Go keeps it outside the header map too.
    public static func headersJSON(_ headers: [(name: String, value: String)]) -> String {
        var map: [String: [String]] = [:]
        for header in headers where header.name.lowercased() != "host" {
            map[header.name, default: []].append(header.value)
        }
        let data =
            (try? JSONSerialization.data(withJSONObject: map, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
