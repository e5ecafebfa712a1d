import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import Hummingbird
import Logging
import MeshCore
import MeshProto
import PostgresNIO

/// The registration benchmark's reference (docs/BENCHMARKS.md): a minimal server on the same
/// stack as catalog-svc (Hummingbird, grpc-swift 2, postgres-nio) that decodes a registration
/// and runs the SQL a registration runs, `catalog.register(...)` with the same JSON arguments,
/// and nothing else: no validation, no ACLs (the benchmark runs catalog-svc without them), no
/// change feed, no metrics. The ratio of catalog-svc to it is the cost of our own code.
///
/// It is also the KV benchmark's reference (kv-bench): `PUT /v1/kv/<key>` is a bare handler
/// doing one upsert through postgres-nio per request (into `public.kv_reference`), as the
/// issue that asked for KV writes defined it.
///
/// `registration-reference --http-addr HOST:PORT --grpc-addr HOST:PORT`, with `MESH_DATABASE_URL`
/// naming a database whose `catalog` schema catalog-svc has migrated.

struct Address {
    var host: String
    var port: Int

    init(_ text: String) {
        let parts = text.split(separator: ":")
        self.host = String(parts[0])
        self.port = Int(parts[1])!
    }
}

func argument(_ name: String) -> String {
    guard let index = CommandLine.arguments.firstIndex(of: name), index + 1 < CommandLine.arguments.count else {
        fatalError("usage: registration-reference --http-addr HOST:PORT --grpc-addr HOST:PORT")
    }
    return CommandLine.arguments[index + 1]
}

/// The one write: what `CatalogStore.register` sends for a registration without checks.
struct Registrar: Sendable {
    let client: PostgresClient
    let logger: Logger
    let encoder = JSONEncoder()

    func register(node: CatalogNode, service: ServiceInstance) async throws -> Int64 {
        let nodeJSON = String(decoding: try self.encoder.encode(node), as: UTF8.self)
        let serviceJSON = String(decoding: try self.encoder.encode(service), as: UTF8.self)
        let rows = try await self.client.query(
            """
            SELECT modify_index, topics FROM catalog.register(\(nodeJSON)::jsonb, \(serviceJSON)::jsonb, \
            '[]'::jsonb, false)
            """,
            logger: self.logger
        )
        for try await (index, _) in rows.decode((Int64, [String]).self) { return index }
        return 0
    }
}

/// The REST body the benchmark sends (Consul's register shape, the fields it uses).
struct RESTRegistration: Decodable {
    struct Service: Decodable {
        var Service: String
        var ID: String
        var Port: Int
        var Tags: [String]?
        var Meta: [String: String]?
    }

    var Node: String
    var Address: String
    var Service: Service
}

/// `mesh.v1.Catalog/Register` only.
struct ReferenceCatalog: RegistrableRPCService {
    let registrar: Registrar

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        let registrar = self.registrar
        router.registerHandler(
            forMethod: Mesh_V1_Catalog.Method.Register.descriptor,
            deserializer: ProtobufDeserializer<Mesh_V1_RegisterRequest>(),
            serializer: ProtobufSerializer<Mesh_V1_RegisterResponse>()
        ) { stream, _ in
            let request = try await ServerRequest(stream: stream).message
            let index = try await registrar.register(
                node: CatalogNode(name: request.node.name, address: request.node.address, datacenter: "dc1"),
                service: ServiceInstance(
                    node: request.node.name,
                    id: request.service.id,
                    name: request.service.name,
                    tags: request.service.tags,
                    port: Int(request.service.port),
                    meta: request.service.meta
                )
            )
            var response = Mesh_V1_RegisterResponse()
            response.index = UInt64(index)
            return StreamingServerResponse(single: ServerResponse(message: response))
        }
    }
}

var logger = Logger(label: "registration-reference")
logger.logLevel = .warning
let http = Address(argument("--http-addr"))
let grpc = Address(argument("--grpc-addr"))
guard let url = ProcessInfo.processInfo.environment["MESH_DATABASE_URL"], let parsed = URL(string: url),
    let dbHost = parsed.host, let dbUser = parsed.user
else { fatalError("MESH_DATABASE_URL must name the database") }
var configuration = PostgresClient.Configuration(
    host: dbHost,
    port: parsed.port ?? 5432,
    username: dbUser,
    password: parsed.password,
    database: String(parsed.path.dropFirst()),
    tls: .disable
)
configuration.options.maximumConnections = 20
let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
let registrar = Registrar(client: client, logger: logger)

let router = Router()
router.put("/v1/catalog/register") { request, context -> Response in
    let body = try await request.body.collect(upTo: 1 << 20)
    let decoded = try JSONDecoder().decode(RESTRegistration.self, from: body)
    _ = try await registrar.register(
        node: CatalogNode(name: decoded.Node, address: decoded.Address, datacenter: "dc1"),
        service: ServiceInstance(
            node: decoded.Node,
            id: decoded.Service.ID,
            name: decoded.Service.Service,
            tags: decoded.Service.Tags ?? [],
            port: decoded.Service.Port,
            meta: decoded.Service.Meta ?? [:]
        )
    )
    return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "true")))
}
router.put("/v1/kv/**") { request, context -> Response in
    let key = String(request.uri.path.dropFirst("/v1/kv/".count))
    let body = try await request.body.collect(upTo: 512 * 1024)
    try await client.query(
        """
        INSERT INTO public.kv_reference (key, value, modify_index) VALUES (\(key), \(body), nextval('public.kv_reference_index')) \
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, modify_index = EXCLUDED.modify_index
        """,
        logger: logger
    )
    return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "true")))
}
router.get("/ready") { _, _ in "ok" }
let app = Application(router: router, configuration: .init(address: .hostname(http.host, port: http.port)))
let server = GRPCServer(
    transport: HTTP2ServerTransport.Posix(
        address: .ipv4(host: grpc.host, port: grpc.port),
        transportSecurity: .plaintext
    ),
    services: [ReferenceCatalog(registrar: registrar)]
)
try await withThrowingDiscardingTaskGroup { group in
    group.addTask { await client.run() }
    group.addTask { try await server.serve() }
    group.addTask { try await app.runService() }
}
