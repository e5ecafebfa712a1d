#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One upstream as the application asked for it: a service reached on a local port.
public struct UpstreamRequest: Sendable, Hashable, Codable {
    public var service: String
    public var localPort: Int

    public init(service: String, localPort: Int) {
        self.service = service
        self.localPort = localPort
    }
}

/// A healthy instance of an upstream, at the address of its proxy's public listener.
public struct ProxyEndpoint: Sendable, Hashable, Codable, Comparable {
    public var address: String
    public var port: Int
    /// The catalog node and instance ID (for logs and metrics).
    public var node: String
    public var instanceID: String

    public init(address: String, port: Int, node: String, instanceID: String) {
        self.address = address
        self.port = port
        self.node = node
        self.instanceID = instanceID
    }

    public static func < (lhs: ProxyEndpoint, rhs: ProxyEndpoint) -> Bool {
        (lhs.address, lhs.port, lhs.instanceID) < (rhs.address, rhs.port, rhs.instanceID)
    }
}

/// An upstream as the proxy serves it: where it listens, what it speaks, whom it may reach and
/// which identity the far end must present.
public struct ProxyUpstream: Sendable, Hashable, Codable {
    public var service: String
    public var localPort: Int
    /// `tcp`, `http`, `http2` or `grpc`, from the upstream's `service-defaults` (else `proxy-defaults`).
    public var protocolName: String
    public var endpoints: [ProxyEndpoint]
    /// The SPIFFE ID every endpoint's certificate must carry.
    public var expectedIdentity: String

    public init(
        service: String,
        localPort: Int,
        protocolName: String,
        endpoints: [ProxyEndpoint],
        expectedIdentity: String
    ) {
        self.service = service
        self.localPort = localPort
        self.protocolName = protocolName
        self.endpoints = endpoints
        self.expectedIdentity = expectedIdentity
    }
}

/// Everything one sidecar needs, in one versioned piece (the config-distributor's unit of push):
/// its own listener and protocol, its upstreams with healthy endpoints, the intentions that
/// apply to its service, and the trust roots.
public struct ProxySnapshot: Sendable, Hashable, Codable {
    public var service: String
    public var publicPort: Int
    public var localAppPort: Int
    public var protocolName: String
    public var upstreams: [ProxyUpstream]
    /// The intentions whose destination covers the service, highest precedence first.
    public var intentions: [Intention]
    /// What applies when no intention matches (the ACL default policy).
    public var defaultAllow: Bool
    public var trustDomain: String
    public var rootsPEM: [String]
    /// The mesh's request normalization for the public listener (the `mesh` config entry's
    /// `HTTP.Incoming.RequestNormalization`); nil: `RequestNormalization.default`.
    public var requestNormalization: RequestNormalization?

    public init(
        service: String,
        publicPort: Int,
        localAppPort: Int,
        protocolName: String,
        upstreams: [ProxyUpstream],
        intentions: [Intention],
        defaultAllow: Bool,
        trustDomain: String,
        rootsPEM: [String],
        requestNormalization: RequestNormalization? = nil
    ) {
        self.service = service
        self.publicPort = publicPort
        self.localAppPort = localAppPort
        self.protocolName = protocolName
        self.upstreams = upstreams
        self.intentions = intentions
        self.defaultAllow = defaultAllow
        self.trustDomain = trustDomain
        self.rootsPEM = rootsPEM
        self.requestNormalization = requestNormalization
    }

    /// A digest of the content: equal snapshots have equal versions, so a change that changes
    /// nothing for this proxy pushes nothing, and a version the proxy refused is not resent
    /// until something really changes.
    public var version: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(self)) ?? Data()
        // FNV-1a, 64 bits: a change detector, not a security boundary.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

/// What a proxy is: the service it fronts, its ports, its upstreams.
public struct ProxyRegistration: Sendable, Hashable {
    public var service: String
    public var publicPort: Int
    public var localAppPort: Int
    public var upstreams: [UpstreamRequest]

    public init(service: String, publicPort: Int, localAppPort: Int, upstreams: [UpstreamRequest]) {
        self.service = service
        self.publicPort = publicPort
        self.localAppPort = localAppPort
        self.upstreams = upstreams
    }
}

/// Computes a proxy's snapshot from the control plane's state (pure: the config-distributor
/// feeds it what it follows from catalog-svc, authz-svc and ca-svc).
public enum ProxySnapshotBuilder {
    /// - Parameters:
    ///   - sidecars: per upstream service, the instances of its sidecar proxies
    ///     (`<service>-sidecar-proxy`, kind `connect-proxy`) with their health.
    ///   - protocols: the protocol per service (`service-defaults`), and the cluster's default
    ///     (`proxy-defaults` `Config.protocol`, else `tcp`) for the rest.
    public static func build(
        _ proxy: ProxyRegistration,
        sidecars: [String: [ServiceHealth]],
        protocols: [String: String],
        defaultProtocol: String = "tcp",
        intentions: IntentionSet,
        defaultAllow: Bool,
        trustDomain: String,
        datacenter: String,
        rootsPEM: [String]
    ) -> ProxySnapshot {
        self.build(
            proxy,
            endpoints: sidecars.mapValues(Self.healthyEndpoints),
            protocols: protocols,
            defaultProtocol: defaultProtocol,
            intentions: intentions,
            defaultAllow: defaultAllow,
            trustDomain: trustDomain,
            datacenter: datacenter,
            rootsPEM: rootsPEM
        )
    }

    /// The same from the healthy endpoints of each upstream service, already selected.
    public static func build(
        _ proxy: ProxyRegistration,
        endpoints: [String: [ProxyEndpoint]],
        protocols: [String: String],
        defaultProtocol: String = "tcp",
        intentions: IntentionSet,
        defaultAllow: Bool,
        trustDomain: String,
        datacenter: String,
        rootsPEM: [String]
    ) -> ProxySnapshot {
        func protocolOf(_ service: String) -> String { protocols[service] ?? defaultProtocol }
        let upstreams = proxy.upstreams.sorted { $0.localPort < $1.localPort }.map { upstream in
            ProxyUpstream(
                service: upstream.service,
                localPort: upstream.localPort,
                protocolName: protocolOf(upstream.service),
                endpoints: (endpoints[upstream.service] ?? []).sorted(),
                expectedIdentity: SPIFFEID(
                    trustDomain: trustDomain,
                    namespace: "default",
                    datacenter: datacenter,
                    service: upstream.service
                ).description
            )
        }
        return ProxySnapshot(
            service: proxy.service,
            publicPort: proxy.publicPort,
            localAppPort: proxy.localAppPort,
            protocolName: protocolOf(proxy.service),
            upstreams: upstreams,
            intentions: intentions.matches(destination: proxy.service),
            defaultAllow: defaultAllow,
            trustDomain: trustDomain,
            rootsPEM: rootsPEM
        )
    }

    /// Instances with no critical check (a warning still serves, as in Consul), at their own
    /// address or, when empty, their node's; sorted, so equal states give equal snapshots.
    static func healthyEndpoints(_ instances: [ServiceHealth]) -> [ProxyEndpoint] {
        instances.filter { $0.aggregateStatus != .critical }.map { entry in
            ProxyEndpoint(
                address: entry.service.address.isEmpty ? entry.node.address : entry.service.address,
                port: entry.service.port,
                node: entry.node.name,
                instanceID: entry.service.id
            )
        }.sorted()
    }
}
