import Foundation
import MeshWorkload
import Testing

/// When a proxy renews its leaf: between 60% and 90% of the life it has left when it arrives.
/// ca-svc backdates `notValidBefore` a minute for clock skew; counting from there put the
/// renewal of a 20 s leaf before its arrival half the time, and proxies renewed every second.
@Suite struct LeafRenewalPointTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("a short leaf backdated a minute is renewed within its remaining life, not at once")
    func backdatedShortLeaf() {
        let validAfter = self.now.addingTimeInterval(-60)
        let validBefore = self.now.addingTimeInterval(20)
        for fraction in [0.6, 0.75, 0.9] {
            let point = SignedLeaf.renewalPoint(
                validAfter: validAfter,
                validBefore: validBefore,
                now: self.now,
                fraction: fraction
            )
            #expect(abs(point.timeIntervalSince(self.now) - 20 * fraction) < 0.001)
        }
    }

    @Test("a leaf valid from later than now counts from its start")
    func futureStart() {
        let point = SignedLeaf.renewalPoint(
            validAfter: self.now.addingTimeInterval(10),
            validBefore: self.now.addingTimeInterval(110),
            now: self.now,
            fraction: 0.5
        )
        #expect(abs(point.timeIntervalSince(self.now) - 60) < 0.001)
    }

    @Test("a leaf already expired is renewed now")
    func expired() {
        let point = SignedLeaf.renewalPoint(
            validAfter: self.now.addingTimeInterval(-100),
            validBefore: self.now.addingTimeInterval(-10),
            now: self.now,
            fraction: 0.8
        )
        #expect(point == self.now)
    }
}
