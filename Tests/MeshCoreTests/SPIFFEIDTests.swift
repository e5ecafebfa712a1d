import MeshCore
import Testing

@Suite("SPIFFE IDs")
struct SPIFFEIDTests {
    static let trustDomain = "11111111-2222-3333-4444-555555555555.consul"

    @Test("a service identity round-trips through its URI")
    func roundTrip() throws {
        let id = SPIFFEID(trustDomain: Self.trustDomain, namespace: "default", datacenter: "dc1", service: "web")
        #expect(id.uri == "spiffe://\(Self.trustDomain)/ns/default/dc/dc1/svc/web")
        #expect(id.description == id.uri)
        let parsed = try #require(SPIFFEID(uri: id.uri))
        #expect(parsed == id)
        #expect(parsed.partition == "default")
        #expect(parsed.service == "web")
        #expect(parsed.datacenter == "dc1")
    }

    @Test("the partition form parses, and the default partition is left out of the URI")
    func partitions() throws {
        let uri = "spiffe://\(Self.trustDomain)/ap/finance/ns/billing/dc/dc2/svc/ledger"
        let id = try #require(SPIFFEID(uri: uri))
        #expect(id.partition == "finance")
        #expect(id.namespace == "billing")
        #expect(id.uri == uri)

        let explicitDefault = try #require(SPIFFEID(uri: "spiffe://td.consul/ap/default/ns/default/dc/dc1/svc/web"))
        #expect(explicitDefault.uri == "spiffe://td.consul/ns/default/dc/dc1/svc/web")
    }

    @Test("scheme and trust domain are case-insensitive; the trust domain is kept lowercase")
    func caseInsensitive() throws {
        let id = try #require(SPIFFEID(uri: "SPIFFE://Example.CONSUL/ns/default/dc/dc1/svc/Web"))
        #expect(id.trustDomain == "example.consul")
        #expect(id.service == "Web")
        #expect(id == SPIFFEID(trustDomain: "EXAMPLE.consul", namespace: "default", datacenter: "dc1", service: "Web"))
    }

    @Test(
        "malformed URIs are refused",
        arguments: [
            "", "spiffe://", "spiffe://td.consul", "spiffe://td.consul/", "http://td.consul/ns/default/dc/dc1/svc/web",
            "spiffe:/td.consul/ns/default/dc/dc1/svc/web", "spiffe:///ns/default/dc/dc1/svc/web",
            "spiffe://td.consul/ns/default/dc/dc1/svc/", "spiffe://td.consul/ns//dc/dc1/svc/web",
            "spiffe://td.consul/ns/default/dc/dc1/svc/web/", "spiffe://td.consul//ns/default/dc/dc1/svc/web",
            "spiffe://td.consul/ns/default/dc/dc1/svc/web?x=1", "spiffe://td.consul/ns/default/dc/dc1/svc/web#frag",
            "spiffe://td.consul/ns/default/dc/dc1/svc/web/extra", "spiffe://td.consul/ns/default/svc/web",
            "spiffe://td.consul/agent/client/dc/dc1/id/node", "spiffe://td.consul/ap//ns/default/dc/dc1/svc/web",
            "spiffe://td.consul/ap/p1/ap/p2/ns/default/dc/dc1/svc/web", "spiffe://user@td.consul/ns/a/dc/b/svc/c",
            "spiffe://td.consul:8443/ns/a/dc/b/svc/c", "spiffe://td.consul/ns/a/dc/b/svc/we%2Fb",
            "spiffe://td.consul/ns/../dc/b/svc/c", "spiffe://td..consul/ns/a/dc/b/svc/c",
            "spiffe://td.consul/NS/a/dc/b/svc/c",
        ]
    )
    func rejects(uri: String) {
        #expect(SPIFFEID(uri: uri) == nil)
    }

    @Test(
        "trust domains are DNS-like labels",
        arguments: [
            ("11111111-2222-3333-4444-555555555555.consul", true), ("consul", true), ("Example.Org", true),
            ("my_domain.local", true), ("", false), (".consul", false), ("consul.", false), ("a..b", false),
            ("-bad.consul", false), ("bad-.consul", false), ("has space.consul", false), ("td:8080", false),
            (String(repeating: "a", count: 64) + ".consul", false), ("tést.consul", false),
        ]
    )
    func trustDomains(name: String, valid: Bool) {
        #expect(SPIFFEID.isValidTrustDomain(name) == valid)
    }

    @Test("an identity names the service intentions match against")
    func intentionServiceName() throws {
        let id = try #require(SPIFFEID(uri: "spiffe://td.consul/ap/finance/ns/billing/dc/dc1/svc/ledger"))
        let name = IntentionServiceName(id)
        #expect(name == IntentionServiceName("ledger", namespace: "billing", partition: "finance"))
        #expect(name.description == "finance/billing/ledger")
    }
}
