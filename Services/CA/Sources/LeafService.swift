import Crypto
import Foundation
import Logging
import MeshCore
import MeshServer
import MeshTLS
import Metrics
import Synchronization
import X509

/// Why a signing request was refused, safe to show to the caller.
enum SignRefusal: Error, Sendable, Equatable {
    case invalidCSR(String)
    case permissionDenied(ACLDenial)
    case rateLimited
}

/// Signs leaves from CSRs with the active root, keeping the unsealed signing key in memory
/// until the roots change (then it is loaded again).
final class LeafService: Sendable {
    let store: CAStore
    let limiter: RateLimiter
    let datacenter: String
    let maximumTTL: Duration
    let logger: Logger
    private let signer = Mutex<(generation: UInt64, signer: LeafSigner?)>((0, nil))
    private let config = Mutex<CAProviderConfig>(CAProviderConfig())
    private let signed = Counter(label: "mesh_ca_leaves_signed_total")
    private let refused = Counter(label: "mesh_ca_sign_refused_total")

    init(store: CAStore, limiter: RateLimiter, datacenter: String, maximumTTL: Duration, logger: Logger) {
        self.store = store
        self.limiter = limiter
        self.datacenter = datacenter
        self.maximumTTL = maximumTTL
        self.logger = logger
    }

    /// Drops the cached signer and settings; called when the roots topic moves.
    func invalidate() {
        self.signer.withLock { $0 = ($0.generation &+ 1, nil) }
    }

    private func currentSigner() async throws -> LeafSigner {
        let (generation, cached) = self.signer.withLock { $0 }
        if let cached { return cached }
        guard let cluster = try await self.store.cluster() else { throw CAStoreError.missingCluster }
        let material = try await self.store.activeSigningMaterial()
        let signer = try LeafSigner(
            signingCertificate: material.root,
            signingKey: material.key,
            chain: material.chain,
            trustDomain: cluster.trustDomain
        )
        self.config.withLock { $0 = cluster.config }
        self.signer.withLock { state in
            if state.generation == generation { state.signer = signer }
        }
        return signer
    }

    /// Checks the CSR, the caller's right to the service it names and the rate limit, then signs.
    /// `caller` is nil when ACLs are off.
    func sign(csrPEM: String, caller: ACLCaller?) async throws -> SignedLeaf {
        guard self.limiter.tryAcquire() else {
            self.refused.increment()
            throw SignRefusal.rateLimited
        }
        let signer = try await self.currentSigner()
        let inspection: CSRInspection
        do {
            inspection = try signer.inspect(csrPEM: csrPEM)
        } catch {
            self.refused.increment()
            throw SignRefusal.invalidCSR(error.reason)
        }
        guard inspection.datacenter == self.datacenter else {
            throw SignRefusal.invalidCSR(
                "SPIFFE ID is for datacenter \"\(inspection.datacenter)\", this is \"\(self.datacenter)\""
            )
        }
        if let caller {
            do {
                try caller.require(
                    caller.authorizer.serviceWrite(inspection.service),
                    "service:write",
                    on: inspection.service
                )
            } catch {
                self.refused.increment()
                throw SignRefusal.permissionDenied(error)
            }
        }
        let ttl = min(self.config.withLock { $0.leafTTL }, self.maximumTTL)
        let leaf = try signer.sign(inspection, ttl: ttl)
        self.signed.increment()
        self.logger.debug(
            "leaf signed",
            metadata: ["mesh.spiffe": "\(leaf.spiffeID)", "mesh.serial": "\(leaf.serialNumberHex)"]
        )
        return leaf
    }
}
