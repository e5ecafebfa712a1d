import Crypto
import Foundation
import GRPCCore
import MeshProto
import MeshServer
import MeshTLS
import MeshTesting
import SwiftASN1
import Testing
import X509

@testable import CA

/// What a leaf may name, tried as a caller with a service identity would: other partitions,
/// namespaces and datacenters, extra DNS and IP names, oversized keys, and a flood of
/// anonymous requests that must not use up anyone's permits.
@Suite("ca-svc signs exactly the caller's identity")
struct LeafIdentityTests {
    /// A CSR for `uri` with extra SANs, signed by `key`.
    static func csr(
        _ uri: String,
        dnsNames: [String] = [],
        ipAddresses: [[UInt8]] = [],
        key: Certificate.PrivateKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
    ) throws -> String {
        let names =
            [GeneralName.uniformResourceIdentifier(uri)] + dnsNames.map { .dnsName($0) }
            + ipAddresses.map { .ipAddress(ASN1OctetString(contentBytes: $0[...])) }
        let extensions = try Certificate.Extensions { SubjectAlternativeNames(names) }
        let request = try CertificateSigningRequest(
            version: .v1,
            subject: DistinguishedName(),
            privateKey: key,
            attributes: CertificateSigningRequest.Attributes([
                try CertificateSigningRequest.Attribute(ExtensionRequest(extensions: extensions))
            ]),
            signatureAlgorithm: .ecdsaWithSHA256
        )
        return try request.serializeAsPEM().pemString + "\n"
    }

    /// The refusal's code and message, or nil when the CSR was signed.
    static func refusal(_ csr: String, token: String?, at cluster: Cluster) async throws -> RPCError? {
        do {
            _ = try await sign(csr, token: token, at: cluster.caGRPC)
            return nil
        } catch let error as RPCError {
            return error
        }
    }

    @Test(
        "a web token gets no leaf for another partition, namespace or datacenter, nor with DNS or IP names, nor for an RSA key over 4096 bits; its plain leaf carries only its SPIFFE ID"
    )
    func onlyTheCallersIdentity() async throws {
        try await withCluster { cluster in
            let roots = try await cluster.ca.get("/v1/connect/ca/roots")
            let domain = try #require(roots.object["TrustDomain"] as? String)
            let token = try await cluster.authz.put(
                "/v1/acl/token",
                json: ["ServiceIdentities": [["ServiceName": "web"]]]
            )
            let secret = try #require(token.object["SecretID"] as? String)
            let web = "spiffe://\(domain)/ns/default/dc/dc1/svc/web"
            let cases: [(String, String, String)] = [
                ("partition", try Self.csr("spiffe://\(domain)/ap/finance/ns/default/dc/dc1/svc/web"), "partition"),
                ("namespace", try Self.csr("spiffe://\(domain)/ns/prod/dc/dc1/svc/web"), "namespace"),
                ("both", try Self.csr("spiffe://\(domain)/ap/finance/ns/prod/dc/dc1/svc/web"), "partition"),
                ("datacenter", try Self.csr("spiffe://\(domain)/ns/default/dc/dc2/svc/web"), "datacenter"),
                ("internal DNS", try Self.csr(web, dnsNames: ["authz-svc.internal"]), "authz-svc.internal"),
                ("wildcard DNS", try Self.csr(web, dnsNames: ["*.example.com"]), "*.example.com"),
                ("IP", try Self.csr(web, ipAddresses: [[10, 0, 0, 1]]), "IP address"),
            ]
            for (name, csr, reason) in cases {
                let error = try await Self.refusal(csr, token: secret, at: cluster)
                #expect(error?.code == .invalidArgument, "\(name): \(String(describing: error))")
                #expect(error?.message.contains(reason) == true, "\(name): \(error?.message ?? "signed")")
            }
            // RSA over 4096 bits (openssl makes the key: swift-crypto makes only common sizes).
            let csrFile = NSTemporaryDirectory() + "ca-big-rsa-\(UInt32.random(in: 0...UInt32.max)).csr"
            defer { unlink(csrFile) }
            let made = try await openssl([
                "req", "-new", "-newkey", "rsa:4608", "-nodes", "-keyout", "/dev/null", "-subj", "/",
                "-addext", "subjectAltName=URI:\(web)", "-out", csrFile,
            ])
            #expect(made.status == 0, "\(made.output)")
            let rsa = try String(contentsOfFile: csrFile, encoding: .utf8)
            let error = try await Self.refusal(rsa, token: secret, at: cluster)
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("2048 to 4096") == true, "\(error?.message ?? "signed")")

            let leaf = try await sign(try Self.csr(web), token: secret, at: cluster.caGRPC)
            let certificate = try Certificate(pemEncoded: leaf.certificatePem)
            let names = try #require(try certificate.extensions.subjectAlternativeNames)
            #expect(Array(names) == [.uniformResourceIdentifier(web)])
        }
    }

    @Test("anonymous and unauthorized callers cannot use up the limit; one token's burst does not stop another's")
    func rateLimitAfterAuthorization() async throws {
        try await withCluster { cluster in
            let roots = try await cluster.ca.get("/v1/connect/ca/roots")
            let domain = try #require(roots.object["TrustDomain"] as? String)
            func token(_ service: String) async throws -> String {
                let made = try await cluster.authz.put(
                    "/v1/acl/token",
                    json: ["ServiceIdentities": [["ServiceName": service]]]
                )
                return try #require(made.object["SecretID"] as? String)
            }
            let web = try await token("web")
            let api = try await token("api")
            let webCSR = try Self.csr("spiffe://\(domain)/ns/default/dc/dc1/svc/web")
            // 40 refused requests (anonymous, and a token for another service) first.
            for index in 0..<40 {
                let error = try await Self.refusal(webCSR, token: index.isMultiple(of: 2) ? nil : api, at: cluster)
                #expect(error?.code == .permissionDenied)
            }
            // web still has its whole burst of 10, then is told to wait.
            for _ in 0..<10 { _ = try await sign(webCSR, token: web, at: cluster.caGRPC) }
            let limited = try await Self.refusal(webCSR, token: web, at: cluster)
            #expect(limited?.code == .resourceExhausted)
            // api's bucket is its own.
            let apiCSR = try Self.csr("spiffe://\(domain)/ns/default/dc/dc1/svc/api")
            _ = try await sign(apiCSR, token: api, at: cluster.caGRPC)
        }
    }

    @Test(
        "a keyed limiter keeps each key's bucket, refills with time, and forgets the least recently used past its cap"
    )
    func keyedLimiter() {
        let start = ContinuousClock.now
        let limiter = RateLimiter(perSecond: 1, burst: 2, maximumKeys: 2)
        #expect(limiter.tryAcquire("a", now: start))
        #expect(limiter.tryAcquire("a", now: start))
        #expect(!limiter.tryAcquire("a", now: start))
        #expect(limiter.tryAcquire("b", now: start))
        #expect(limiter.tryAcquire("a", now: start + .seconds(1)))
        #expect(!limiter.tryAcquire("a", now: start + .seconds(1)))
        // A third key evicts the least recently used ("b"), never growing past the cap.
        #expect(limiter.tryAcquire("c", now: start + .seconds(1)))
        #expect(limiter.keyCount == 2)
        #expect(!limiter.tryAcquire("a", now: start + .seconds(1)))
    }
}
