import Crypto
public import Foundation

/// Signs requests with AWS Signature Version 4 (header form), for one set of credentials, region and service.
///
/// Written once for every AWS API the mesh calls (STS `GetCallerIdentity`, IAM `GetRole`, ECS). It implements the
/// non-S3 variant: the path is normalised and its escapes encoded a second time, and the payload hash is not sent
/// unless asked for. Every header present in the request when it is signed is signed, so add headers that a proxy
/// or the transport may rewrite (`User-Agent`, `Content-Length`) only afterwards.
///
/// The `date` is a parameter rather than read from the clock so that signing is deterministic and testable; pass
/// `Date()` in production (AWS rejects a timestamp more than five minutes off).
public struct SigV4Signer: Sendable {
    /// The credentials whose secret keys the signature and whose access key ID and token are sent.
    public var credentials: AWSCredentials
    /// The region in the credential scope, e.g. `us-east-1`.
    public var region: String
    /// The signing name of the service in the credential scope, e.g. `sts`, `iam`, `ecs`.
    public var service: String

    /// A signer for requests to `service` in `region`.
    public init(credentials: AWSCredentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// Signs `request` as of `date`.
    ///
    /// Any `Authorization`, `X-Amz-Date`, `X-Amz-Security-Token` and `X-Amz-Content-Sha256` headers already present
    /// are replaced, so re-signing a request (e.g. on retry, with a fresh date) is safe. The session token, when the
    /// credentials have one, is added before signing and therefore signed, as STS, IAM and ECS accept.
    ///
    /// - Parameter includeContentSHA256Header: also send the payload hash as `X-Amz-Content-Sha256` (signed).
    ///   Only some services (S3, Glacier) want it; the rest ignore it.
    /// - Throws: `SigV4Error.missingHostHeader` when the request has no `Host` header.
    public func sign(
        _ request: AWSRequest,
        date: Date,
        includeContentSHA256Header: Bool = false
    ) throws(SigV4Error) -> SigV4SignedRequest {
        guard request.firstValue(forHeader: "host") != nil else {
            throw .missingHostHeader
        }
        let timestamp = AMZDate(date)
        let payloadHash = Hex.lowercase(SHA256.hash(data: request.body))

        var signed = request
        signed.removeHeader("authorization")
        signed.setHeader("X-Amz-Date", timestamp.dateTime)
        if let token = self.credentials.sessionToken {
            signed.setHeader("X-Amz-Security-Token", token)
        } else {
            signed.removeHeader("x-amz-security-token")
        }
        if includeContentSHA256Header {
            signed.setHeader("X-Amz-Content-Sha256", payloadHash)
        } else {
            signed.removeHeader("x-amz-content-sha256")
        }

        let headers = SigV4Canonicalization.canonicalHeaders(signed.headers)
        let canonicalRequest = [
            signed.method,
            SigV4Canonicalization.canonicalURI(path: signed.path),
            SigV4Canonicalization.canonicalQuery(signed.query),
            headers.canonical,
            headers.signed,
            payloadHash,
        ].joined(separator: "\n")

        let scope = "\(timestamp.date)/\(self.region)/\(self.service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256",
            timestamp.dateTime,
            scope,
            Hex.lowercase(SHA256.hash(data: Array(canonicalRequest.utf8))),
        ].joined(separator: "\n")

        let signature = Hex.lowercase(
            HMAC<SHA256>.authenticationCode(
                for: Array(stringToSign.utf8),
                using: self.signingKey(date: timestamp.date)
            )
        )
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(self.credentials.accessKeyID)/\(scope), "
            + "SignedHeaders=\(headers.signed), Signature=\(signature)"
        signed.setHeader("Authorization", authorization)

        return SigV4SignedRequest(
            request: signed,
            canonicalRequest: canonicalRequest,
            stringToSign: stringToSign,
            signature: signature,
            signedHeaders: headers.signed,
            authorization: authorization
        )
    }

    /// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
    private func signingKey(date: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array("AWS4\(self.credentials.secretAccessKey)".utf8))
        for component in [date, self.region, self.service, "aws4_request"] {
            key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(component.utf8), using: key))
        }
        return key
    }
}
