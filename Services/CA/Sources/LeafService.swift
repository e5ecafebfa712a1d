import Crypto
import Foundation
import GRPCCore
import HTTPTypes
import Logging
import MeshCore
import MeshRPC
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

extension SignRefusal: ServiceError {
    var consulHTTPError: ConsulHTTPError {
        switch self {
        case .invalidCSR(let reason): ConsulHTTPError(.badRequest, "invalid CSR: \(reason)")
        case .permissionDenied(let denial): denial.consulHTTPError
        case .rateLimited: ConsulHTTPError(.tooManyRequests, "rate limited, retry")
        }
    }

    var rpcErrorCode: RPCError.Code {
        switch self {
        case .invalidCSR: .invalidArgument
        case .permissionDenied(let denial): denial.rpcErrorCode
        case .rateLimited: .resourceExhausted
        }
    }
}

/// Signs leaves from CSRs with the active root, keeping the unsealed signing key in memory
/// until the roots change (then it is loaded again).
///
/// A leaf names exactly the identity its caller may write: a service ID in the default
/// partition and namespace (until namespaces exist) of this datacenter, with no DNS or IP
/// names beyond what `names` allows. Permits are taken only after authorization, first from
/// the caller's own bucket (`perCaller`, keyed by token accessor), then from the CA's
/// (`limiter`), so callers without rights cannot use up anyone's.
final class LeafService: Sendable {
    let store: CAStore
    let limiter: RateLimiter
    let perCaller: RateLimiter
    let names: LeafNamePolicy
    let datacenter: String
    let maximumTTL: Duration
    let logger: Logger
    private let signer = Mutex<(generation: UInt64, signer: LeafSigner?)>((0, nil))
    private let config = Mutex<CAProviderConfig>(CAProviderConfig())
    private let signed = Counter(label: "mesh_ca_leaves_signed_total")
    private let refused = Counter(label: "mesh_ca_sign_refused_total")

    init(
        store: CAStore,
        limiter: RateLimiter,
        perCaller: RateLimiter,
        names: LeafNamePolicy = LeafNamePolicy(),
        datacenter: String,
        maximumTTL: Duration,
        logger: Logger
    ) {
        self.store = store
        self.limiter = limiter
        self.perCaller = perCaller
        self.names = names
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

    /// Checks the CSR, the caller's right to the identity it names and the rate limits, then
    /// signs. `caller` is nil when ACLs are off.
    func sign(csrPEM: String, caller: ACLCaller?) async throws -> SignedLeaf {
        let signer = try await self.currentSigner()
        let inspection: CSRInspection
        do {
            inspection = try signer.inspect(csrPEM: csrPEM)
        } catch {
            self.refused.increment()
            throw SignRefusal.invalidCSR(error.reason)
        }
        if let reason = self.identityRefusal(inspection) ?? self.names.refusal(for: inspection) {
            self.refused.increment()
            throw SignRefusal.invalidCSR(reason)
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
        let key = caller?.accessorID ?? ""
        guard key.isEmpty || self.perCaller.tryAcquire(key), self.limiter.tryAcquire() else {
            self.refused.increment()
            throw SignRefusal.rateLimited
        }
        let ttl = min(self.config.withLock { $0.leafTTL }, self.maximumTTL)
        let leaf = try signer.sign(inspection, ttl: ttl)
        self.signed.increment()
        self.logger.debug(
            "leaf signed",
            metadata: [LogKey.spiffe: "\(leaf.spiffeID)", LogKey.serial: "\(leaf.serialNumberHex)"]
        )
        return leaf
    }

    /// Why the SPIFFE ID may not be signed here: only the default partition and namespace
    /// exist, and only this datacenter's identities are issued.
    private func identityRefusal(_ inspection: CSRInspection) -> String? {
        if inspection.partition != "default" {
            return "SPIFFE ID names partition \"\(inspection.partition)\"; only \"default\" exists"
        }
        if inspection.namespace != "default" {
            return "SPIFFE ID names namespace \"\(inspection.namespace)\"; only \"default\" exists"
        }
        if inspection.datacenter != self.datacenter {
            return "SPIFFE ID is for datacenter \"\(inspection.datacenter)\", this is \"\(self.datacenter)\""
        }
        return nil
    }
}
