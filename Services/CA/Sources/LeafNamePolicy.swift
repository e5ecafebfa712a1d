import MeshTLS

/// Which names a leaf may carry besides its SPIFFE ID.
///
/// Consul's built-in CA copies a CSR's DNS and IP SANs into the leaf; we do not. A leaf names
/// exactly one service identity: by default no DNS names and no IP addresses at all, so that
/// a token for `web` cannot get a certificate that also passes for `authz-svc.internal` or
/// `*.example.com` with a public CA's clients. A service that needs DNS names (gateways
/// serving clients outside the mesh) is given an explicit set here; IP addresses are never
/// signed (see docs/DECISIONS.md).
struct LeafNamePolicy: Sendable, Hashable {
    /// DNS names each service's leaves may carry, lowercased, matched exactly (a wildcard
    /// name is allowed only when it is listed as it is).
    var dnsNames: [String: Set<String>]

    init(dnsNames: [String: Set<String>] = [:]) {
        self.dnsNames = dnsNames.mapValues { Set($0.map { $0.lowercased() }) }
    }

    /// Why the CSR's extra names may not be signed, or nil when they may.
    func refusal(for inspection: CSRInspection) -> String? {
        if !inspection.ipAddresses.isEmpty {
            return "IP address SANs are not signed; a leaf carries only its SPIFFE ID"
        }
        let allowed = self.dnsNames[inspection.service] ?? []
        if let name = inspection.dnsNames.first(where: { !allowed.contains($0.lowercased()) }) {
            return "DNS SAN \"\(name)\" is not allowed for service \"\(inspection.service)\"; "
                + "a leaf carries only its SPIFFE ID unless the CA's policy lists the name"
        }
        return nil
    }
}
