import MeshCore
import Proxy
import Testing

@Suite struct EndpointBalancerTests {
    let endpoints = (1...3).map {
        ProxyEndpoint(address: "10.0.0.\($0)", port: 21000, node: "n\($0)", instanceID: "i\($0)")
    }

    @Test func roundRobinVisitsEveryEndpointInTurn() {
        let balancer = EndpointBalancer(endpoints: self.endpoints, policy: .roundRobin, ejectionTime: .seconds(10))
        let picks = (0..<6).compactMap { _ in balancer.pick() }
        #expect(picks == self.endpoints + self.endpoints)
    }

    @Test func anEjectedEndpointIsSkippedUntilItsEjectionEnds() {
        let balancer = EndpointBalancer(endpoints: self.endpoints, policy: .roundRobin, ejectionTime: .seconds(10))
        let now = ContinuousClock.now
        balancer.eject(self.endpoints[1], now: now)
        let during = (0..<4).compactMap { _ in balancer.pick(now: now) }
        #expect(!during.contains(self.endpoints[1]))
        #expect(Set(during) == [self.endpoints[0], self.endpoints[2]])
        #expect(balancer.ejected(now: now) == [self.endpoints[1]])
        let later = now.advanced(by: .seconds(11))
        let after = (0..<3).compactMap { _ in balancer.pick(now: later) }
        #expect(Set(after) == Set(self.endpoints))
    }

    @Test func aRetryGoesElsewhere() {
        let balancer = EndpointBalancer(endpoints: self.endpoints, policy: .roundRobin, ejectionTime: .seconds(10))
        for excluded in self.endpoints {
            #expect(balancer.pick(excluding: excluded) != excluded)
        }
    }

    @Test func whenEveryEndpointIsEjectedTheEarliestBackIsTried() {
        let balancer = EndpointBalancer(endpoints: self.endpoints, policy: .roundRobin, ejectionTime: .seconds(10))
        let now = ContinuousClock.now
        balancer.eject(self.endpoints[0], now: now)
        balancer.eject(self.endpoints[1], now: now.advanced(by: .seconds(-5)))
        balancer.eject(self.endpoints[2], now: now)
        #expect(balancer.pick(now: now) == self.endpoints[1])
    }

    @Test func leastRequestPrefersTheLessBusyEndpoint() {
        let two = Array(self.endpoints.prefix(2))
        let balancer = EndpointBalancer(endpoints: two, policy: .leastRequest, ejectionTime: .seconds(10))
        // Load the first endpoint with 5 open connections.
        var opened = 0
        while opened < 5 {
            if balancer.pick() == two[0] { opened += 1 } else { balancer.release(two[1]) }
        }
        // With two random choices, the idle endpoint wins whenever both are drawn: never the busy one twice in a row.
        let picks = (0..<50).compactMap { _ -> ProxyEndpoint? in
            let pick = balancer.pick()
            if let pick { balancer.release(pick) }
            return pick
        }
        #expect(picks.filter { $0 == two[1] }.count > picks.filter { $0 == two[0] }.count)
    }

    @Test func anUpdateKeepsTheEjectionsOfEndpointsThatStay() {
        let balancer = EndpointBalancer(endpoints: self.endpoints, policy: .roundRobin, ejectionTime: .seconds(10))
        balancer.eject(self.endpoints[0])
        balancer.eject(self.endpoints[2])
        balancer.update(endpoints: Array(self.endpoints.prefix(2)))
        #expect(balancer.ejected() == [self.endpoints[0]])
        #expect(balancer.endpoints == Array(self.endpoints.prefix(2)))
    }

    @Test func noEndpointsGivesNoPick() {
        let balancer = EndpointBalancer(endpoints: [], policy: .leastRequest, ejectionTime: .seconds(10))
        #expect(balancer.pick() == nil)
    }
}
