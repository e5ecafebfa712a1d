public import X509

/// A CSR that passed every check except authorization: what it asks for, ready to be signed.
///
/// The CA service checks `service:write` on `id.service` (in `id.namespace` and
/// `id.partition`) and that `id.datacenter` is its own, then passes this to
/// `LeafSigner.sign(_:ttl:now:)`.
public struct CSRInspection: Sendable, Hashable {
    /// The parsed SPIFFE service ID.
    public var id: SPIFFEServiceID
    /// The URI SAN exactly as the CSR spelled it; the leaf carries it unchanged.
    public var uri: String
    /// The public key the leaf will certify.
    public var publicKey: Certificate.PublicKey
    /// DNS SANs requested in the CSR; Consul copies them to the leaf.
    public var dnsNames: [String]
    /// IP address SANs requested in the CSR (4 or 16 bytes each); Consul copies them to the leaf.
    public var ipAddresses: [[UInt8]]

    /// The service name.
    public var service: String { self.id.service }
    /// The namespace.
    public var namespace: String { self.id.namespace }
    /// The admin partition (`default` when the URI names none).
    public var partition: String { self.id.partition }
    /// The datacenter.
    public var datacenter: String { self.id.datacenter }
    /// The trust domain.
    public var trustDomain: String { self.id.trustDomain }
}
