import Foundation
import GRPCCore
import HTTPTypes
import Hummingbird
import Logging
import MeshClient
import MeshCore
import MeshRPC
import NIOCore
import NIOHTTP1

extension LocalAgentAPI {
    /// `GET /v1/agent/self`: every top-level value an object or null (the Go client decodes it
    /// as a map of maps).
    var selfDocument: JSONValue {
        ConsulAgentJSON.agentSelf(
            datacenter: self.datacenter,
            nodeName: self.node.name,
            server: false,
            member: self.memberDocument,
            extra: [
                "DebugConfig": .object([
                    "ConnectEnabled": .bool(self.leafIssuer != nil), "GRPCPort": .number(-1),
                    "GRPCTLSPort": .number(-1), "DNSPort": .number(-1), "DNSAddrs": .array([]),
                ])
            ]
        )
    }

    /// The agent's node as Consul's `agent.Member` (`/v1/agent/members` lists it alone: the
    /// agent knows no gossip pool).
    var memberDocument: JSONValue {
        ConsulAgentJSON.member(
            name: self.node.name,
            address: self.node.address,
            port: 0,
            server: false,
            datacenter: self.datacenter
        )
    }

    /// The agent's services as Consul's `AgentService`, by ID: its node's own, and what was
    /// registered here.
    func visibleServices(_ request: Request) async throws -> [String: JSONValue] {
        var services: [String: JSONValue] = [:]
        for service in self.node.services { services[service.id] = self.agentService(service) }
        for service in await self.registry.all { services[service.id] = self.agentService(service) }
        return services
    }

    func agentService(_ service: ServiceDefinition) -> JSONValue {
        let address = service.address.isEmpty ? self.node.address : service.address
        var object: [String: JSONValue] = [
            "ID": .string(service.id), "Service": .string(service.name),
            "Tags": .array(service.tags.map { .string($0) }),
            "Meta": .object(service.meta.mapValues { .string($0) }), "Port": .number(Double(service.port)),
            "Address": .string(address),
            "Weights": .object(["Passing": .number(1), "Warning": .number(1)]), "EnableTagOverride": .bool(false),
            "Datacenter": .string(self.datacenter),
        ]
        if !service.kind.isEmpty { object["Kind"] = .string(service.kind) }
        if let proxy = service.proxy { object["Proxy"] = proxy }
        return .object(object)
    }

    // MARK: Registration

    func register(_ request: Request) async throws -> Response {
        let body = try await ConsulHTTP.jsonBody(of: request)
        let definition = try ServiceDefinition.parse(body)
        var definitions = [definition]
        if let sidecar = try ServiceDefinition.sidecar(in: body, parent: definition) {
            let taken = Set(
                await self.registry.all.filter { $0.kind == "connect-proxy" && $0.id != sidecar.id }.map(\.port)
            )
            definitions.append(try sidecar.allocatingPort(taken: taken))
        }
        let catalog = self.catalog(request)
        for definition in definitions {
            _ = try await catalog.call(.PUT, "/v1/catalog/register", json: try self.registration(definition))
            await self.registry.put(definition) { check in await self.probe(check, catalog: catalog) }
            self.logger.info(
                "service registered through the local API",
                metadata: [
                    LogKey.service: "\(definition.name)", LogKey.serviceID: "\(definition.id)",
                    LogKey.checks: "\(definition.checks.map(\.id).joined(separator: ","))",
                ]
            )
        }
        return ConsulHTTP.empty()
    }

    /// The catalog registration of a local service on the agent's node, its checks as defined
    /// (TTL checks with their TTL, so that the catalog turns them critical when they lapse).
    func registration(_ definition: ServiceDefinition) throws -> Data {
        var service: [String: JSONValue] = [
            "ID": .string(definition.id), "Service": .string(definition.name),
            "Tags": .array(definition.tags.map { .string($0) }),
            "Meta": .object(definition.meta.mapValues { .string($0) }),
            "Port": .number(Double(definition.port)),
            "Address": .string(definition.address.isEmpty ? self.node.address : definition.address),
        ]
        if !definition.kind.isEmpty { service["Kind"] = .string(definition.kind) }
        if let proxy = definition.proxy { service["Proxy"] = proxy }
        return try self.catalogRegistration(
            service: .object(service),
            checks: definition.checks.map { Self.json(of: $0) }
        )
    }

    /// A catalog registration of one check alone (the service and its other checks untouched),
    /// with `status` (status, output), else the check's initial status.
    func checkRegistration(_ check: AgentCheckDefinition, status: (String, String)? = nil) throws -> Data {
        try self.catalogRegistration(service: nil, checks: [Self.json(of: check, status: status)])
    }

    /// `PUT /v1/catalog/register`'s body on the agent's node.
    func catalogRegistration(service: JSONValue?, checks: [JSONValue]) throws -> Data {
        var body: [String: JSONValue] = [
            "Node": .string(self.node.name), "Address": .string(self.node.address),
        ]
        if let service { body["Service"] = service }
        if self.node.skipNodeUpdate { body["SkipNodeUpdate"] = .bool(true) }
        if !checks.isEmpty { body["Checks"] = .array(checks) }
        return try JSONEncoder().encode(JSONValue.object(body))
    }

    /// A check as the catalog takes it.
    private static func json(of check: AgentCheckDefinition, status: (String, String)? = nil) -> JSONValue {
        let (state, output) = status ?? (check.initialStatus, "")
        return .object([
            "CheckID": .string(check.id), "Name": .string(check.name), "ServiceID": .string(check.serviceID),
            "Status": .string(state), "Output": .string(output), "Type": .string(check.type),
            "Definition": .object(Self.definition(of: check)),
        ])
    }

    private static func definition(of check: AgentCheckDefinition) -> [String: JSONValue] {
        var definition: [String: JSONValue] = [:]
        switch check.probe {
        case .ttl(let ttl): definition["TTL"] = .string(GoDuration.format(ttl))
        case .http(let url, let interval):
            definition["HTTP"] = .string(url)
            definition["Interval"] = .string(GoDuration.format(interval))
        case .tcp(let address, let interval):
            definition["TCP"] = .string(address)
            definition["Interval"] = .string(GoDuration.format(interval))
        case .grpc(let grpc, let interval):
            definition["GRPC"] = .string(grpc.target)
            definition["GRPCUseTLS"] = .bool(grpc.useTLS)
            definition["TLSSkipVerify"] = .bool(grpc.skipVerify)
            if let name = grpc.serverName { definition["TLSServerName"] = .string(name) }
            definition["Interval"] = .string(GoDuration.format(interval))
        }
        if let after = check.deregisterCriticalServiceAfter {
            definition["DeregisterCriticalServiceAfter"] = .string(after)
        }
        return definition
    }

    func deregistration(_ serviceID: String) -> Data {
        (try? JSONEncoder().encode(
            JSONValue.object(["Node": .string(self.node.name), "ServiceID": .string(serviceID)])
        )) ?? Data()
    }

    /// Runs an HTTP, TCP or gRPC check every interval and writes its status to the catalog when it changes.
    func probe(_ check: AgentCheckDefinition, catalog: ConsulAPI) async {
        let local: LocalCheck
        let interval: Duration
        switch check.probe {
        case .ttl: return
        case .http(let url, let every):
            local = .http(url)
            interval = every
        case .tcp(let address, let every):
            guard let target = HostPort(parsing: address) else { return }
            local = .tcp(host: target.host, port: target.port)
            interval = every
        case .grpc(let check, let every):
            local = .grpc(check)
            interval = every
        }
        var last: (String, String)?
        while !Task.isCancelled {
            let (status, output) = await local.run(timeout: min(interval, .seconds(10)))
            // Only this check is written: the service's other checks (a TTL the app passes) keep theirs.
            // Only while it is still this definition: a replaced or removed check's probe writes nothing.
            guard !Task.isCancelled, await self.registry.check(check.id) == check else { return }
            if last?.0 != status.rawValue || last?.1 != output {
                do {
                    let body = try self.checkRegistration(check, status: (status.rawValue, output))
                    _ = try await catalog.call(.PUT, "/v1/catalog/register", json: body)
                    last = (status.rawValue, output)
                } catch {
                    self.logger.warning(
                        "check status not written",
                        metadata: [LogKey.check: "\(check.id)", LogKey.error: "\(error)"]
                    )
                }
            }
            try? await Task.sleep(for: interval)
        }
    }

    // MARK: Checks

    /// `PUT /v1/agent/check/register`: a TTL, HTTP, TCP or gRPC check of a service registered here.
    /// Node checks are refused: on ECS the node is the cluster, so a node check would decide the
    /// health of every task's instances.
    func registerCheck(_ request: Request) async throws -> Response {
        let body = try await ConsulHTTP.jsonBody(of: request)
        let object = try LenientObject(body)
        guard let name = try object.string("Name"), !name.isEmpty else {
            throw ConsulHTTPError(.badRequest, "Missing check name")
        }
        guard let serviceID = try object.string("ServiceID"), !serviceID.isEmpty else {
            throw ConsulHTTPError(
                .badRequest,
                "ServiceID is required: mesh-agent registers service checks only (node checks would apply to "
                    + "every task on the shared node)"
            )
        }
        guard let service = await self.registry.service(serviceID) else {
            throw ConsulHTTPError(.notFound, "ServiceID \"\(serviceID)\" does not exist")
        }
        let check = try AgentCheckDefinition.parse(body, defaultID: name, service: (service.id, service.name))
        let catalog = self.catalog(request)
        _ = try await catalog.call(.PUT, "/v1/catalog/register", json: try self.checkRegistration(check))
        guard await self.registry.add(check, probe: { check in await self.probe(check, catalog: catalog) }) else {
            throw ConsulHTTPError(.notFound, "ServiceID \"\(serviceID)\" does not exist")
        }
        return ConsulHTTP.empty()
    }

    /// `PUT /v1/agent/check/deregister/:id`.
    func deregisterCheck(_ request: Request, id: String) async throws -> Response {
        // Out of the registry first (its probe stops and writes no more), then out of the
        // catalog; put back if the catalog refuses.
        guard let removed = await self.registry.removeCheck(id) else {
            throw ConsulHTTPError(
                .notFound,
                "Unknown check ID \"\(id)\". Ensure that the check ID is passed, not the check name."
            )
        }
        let body = try JSONEncoder().encode(
            JSONValue.object(["Node": .string(self.node.name), "CheckID": .string(id)])
        )
        let catalog = self.catalog(request)
        do {
            _ = try await catalog.call(.PUT, "/v1/catalog/deregister", json: body)
        } catch {
            _ = await self.registry.add(removed) { check in await self.probe(check, catalog: catalog) }
            throw error
        }
        return ConsulHTTP.empty()
    }

    /// `GET /v1/agent/checks`: the catalog's checks of the agent's services, by check ID.
    func localChecks(_ request: Request) async throws -> [String: JSONValue] {
        let node = ConsulAPI.escape(self.node.name)
        let data = try await self.catalog(request).call(.GET, "/v1/health/node/\(node)")
        guard case .array(let checks) = try JSONDecoder().decode(JSONValue.self, from: data) else { return [:] }
        var ours = Set(self.node.services.map(\.id))
        for service in await self.registry.all { ours.insert(service.id) }
        var byID: [String: JSONValue] = [:]
        for check in checks {
            guard case .object(let fields) = check, case .string(let serviceID)? = fields["ServiceID"],
                ours.contains(serviceID), case .string(let id)? = fields["CheckID"]
            else { continue }
            byID[id] = check
        }
        return byID
    }

    /// A TTL update of a local check: 404 for an unknown one, 500 for one that is not a TTL
    /// check (Consul's texts), else the catalog's TTL update on the agent's node.
    func updateTTL(_ request: Request, id: String, status: String, output: String) async throws -> Response {
        let known = await self.registry.check(id)
        let own = self.node.ownTTLChecks.contains(id)
        guard known != nil || own else {
            throw ConsulHTTPError(
                .notFound,
                "Unknown check ID \"\(id)\". Ensure that the check ID is passed, not the check name."
            )
        }
        if let known, case .ttl = known.probe {
        } else if known != nil {
            throw ConsulHTTPError(.internalServerError, "CheckID \"\(id)\" does not have associated TTL")
        }
        let body = try JSONEncoder().encode(JSONValue.object(["Status": .string(status), "Output": .string(output)]))
        let path = "/v1/agent/check/update/\(ConsulAPI.escape(id))?node=\(ConsulAPI.escape(self.node.name))"
        _ = try await self.catalog(request).call(.PUT, path, json: body)
        return ConsulHTTP.empty()
    }

    // MARK: Connect

    /// `GET /v1/agent/connect/ca/roots`: the control plane's roots, its index header passed on
    /// (blocking parameters too).
    func roots(_ request: Request) async throws -> Response {
        var path = "/v1/connect/ca/roots"
        var query: [String] = []
        for name in ["index", "wait", "stale", "consistent"] {
            if let value = request.uri.queryParameters.get(name) { query.append("\(name)=\(ConsulAPI.escape(value))") }
        }
        if !query.isEmpty { path += "?" + query.joined(separator: "&") }
        let (body, headers) = try await self.catalog(request).exchange(.GET, path)
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for name in ["X-Consul-Index", "X-Consul-KnownLeader", "X-Consul-LastContact"] {
            if let value = headers.first(name: name), let field = HTTPField.Name(name) { fields[field] = value }
        }
        return Response(status: .ok, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// `GET /v1/agent/connect/ca/leaf/:service`: a leaf for `service` (registered or not), its
    /// key made here; the caller's token needs `service:write` on it.
    func leaf(_ request: Request, service: String) async throws -> Response {
        guard let issuer = self.leafIssuer else {
            throw ConsulHTTPError(.internalServerError, "Connect must be enabled in order to use this endpoint")
        }
        // The caller's token only: an anonymous caller is refused unless anonymous may write it.
        let token = ConsulHTTP.token(of: request) ?? ""
        let rootsData = try await self.api.call(.GET, "/v1/connect/ca/roots")
        guard case .object(let roots) = try JSONDecoder().decode(JSONValue.self, from: rootsData),
            case .string(let trustDomain)? = roots["TrustDomain"]
        else {
            throw ConsulHTTPError(.internalServerError, "the control plane's roots have no trust domain")
        }
        let issued: LeafIssuer.Issued
        do {
            issued = try await issuer.leaf(service: service, token: token, trustDomain: trustDomain)
        } catch let error as RPCError {
            switch error.code {
            case .permissionDenied: throw ConsulHTTPError(.forbidden, error.message)
            case .invalidArgument: throw ConsulHTTPError(.badRequest, error.message)
            default: throw ConsulHTTPError(.internalServerError, "leaf signing failed: \(error.message)")
            }
        }
        let formatter = ISO8601DateFormatter()
        let leaf: JSONValue = .object([
            "SerialNumber": .string(issued.serialNumber), "CertPEM": .string(issued.certPEM),
            "PrivateKeyPEM": .string(issued.privateKeyPEM), "Service": .string(issued.service),
            "ServiceURI": .string(issued.serviceURI), "ValidAfter": .string(formatter.string(from: issued.validAfter)),
            "ValidBefore": .string(formatter.string(from: issued.validBefore)),
            "CreateIndex": .number(Double(issued.index)), "ModifyIndex": .number(Double(issued.index)),
        ])
        return try ConsulHTTP.indexed(leaf, index: issued.index)
    }
}
