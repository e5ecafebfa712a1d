import MeshTLS
import Testing

@Suite("SPIFFE service IDs")
struct SPIFFEServiceIDTests {
    @Test("formats like Consul: the partition segment only for a non-default partition")
    func formats() {
        let id = SPIFFEServiceID(trustDomain: "td.consul", datacenter: "dc1", service: "web")
        #expect(id.uri == "spiffe://td.consul/ns/default/dc/dc1/svc/web")
        var partitioned = id
        partitioned.partition = "team-a"
        #expect(partitioned.uri == "spiffe://td.consul/ap/team-a/ns/default/dc/dc1/svc/web")
        #expect(SPIFFEServiceID(uri: partitioned.uri) == partitioned)
        #expect(SPIFFEServiceID(uri: id.uri) == id)
    }

    @Test("percent-decodes segments")
    func decodes() {
        let id = SPIFFEServiceID(uri: "spiffe://td.consul/ns/default/dc/dc1/svc/my%20svc")
        #expect(id?.service == "my svc")
    }

    @Test(
        "rejects other shapes",
        arguments: [
            "spiffe://td.consul/ap/x/ns/default/dc/dc1",
            "spiffe://td.consul:8443/ns/default/dc/dc1/svc/web",
            "spiffe://user@td.consul/ns/default/dc/dc1/svc/web",
            "spiffe:///ns/default/dc/dc1/svc/web",
            "spiffe://td.consul/ns//dc/dc1/svc/web",
            "spiffe://td.consul//ns/default/dc/dc1/svc/web",
        ]
    )
    func rejects(uri: String) {
        #expect(SPIFFEServiceID(uri: uri) == nil)
    }
}
