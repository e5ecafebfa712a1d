// swift-tools-version: 6.1
import PackageDescription

let upcomingFeatures: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

extension Target.Dependency {
    static let grpcCore = Target.Dependency.product(name: "GRPCCore", package: "grpc-swift-2")
    static let grpcTransport = Target.Dependency.product(
        name: "GRPCNIOTransportHTTP2Posix",
        package: "grpc-swift-nio-transport"
    )
    static let grpcProtobuf = Target.Dependency.product(name: "GRPCProtobuf", package: "grpc-swift-protobuf")
    static let protobuf = Target.Dependency.product(name: "SwiftProtobuf", package: "swift-protobuf")
    static let postgres = Target.Dependency.product(name: "PostgresNIO", package: "postgres-nio")
    static let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
    static let hummingbirdTLS = Target.Dependency.product(name: "HummingbirdTLS", package: "hummingbird")
    static let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
    static let unixSignals = Target.Dependency.product(name: "UnixSignals", package: "swift-service-lifecycle")
    static let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
    static let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
    static let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")
    static let prometheus = Target.Dependency.product(name: "Prometheus", package: "swift-prometheus")
    static let nio = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
    static let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
    static let httpClient = Target.Dependency.product(name: "AsyncHTTPClient", package: "async-http-client")
    static let httpTypes = Target.Dependency.product(name: "HTTPTypes", package: "swift-http-types")
    static let nioHTTP1 = Target.Dependency.product(name: "NIOHTTP1", package: "swift-nio")
    static let nioHTTP2 = Target.Dependency.product(name: "NIOHTTP2", package: "swift-nio-http2")
    static let nioHPACK = Target.Dependency.product(name: "NIOHPACK", package: "swift-nio-http2")
    static let nioFoundation = Target.Dependency.product(name: "NIOFoundationCompat", package: "swift-nio")
    static let nioSSL = Target.Dependency.product(name: "NIOSSL", package: "swift-nio-ssl")
    static let nioTLS = Target.Dependency.product(name: "NIOTLS", package: "swift-nio")
    static let x509 = Target.Dependency.product(name: "X509", package: "swift-certificates")
    static let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")
    static let cryptoExtras = Target.Dependency.product(name: "_CryptoExtras", package: "swift-crypto")
    static let asn1 = Target.Dependency.product(name: "SwiftASN1", package: "swift-asn1")
}

/// A library target with the project's Swift settings.
func library(_ name: String, path: String, dependencies: [Target.Dependency]) -> Target {
    .target(name: name, dependencies: dependencies, path: path, swiftSettings: upcomingFeatures)
}

/// A thin executable target with the project's Swift settings.
func executable(_ name: String, path: String, dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: dependencies, path: path, swiftSettings: upcomingFeatures)
}

/// A Swift Testing target with the project's Swift settings (`exclude`: fixtures and scripts in its folder).
func tests(_ name: String, dependencies: [Target.Dependency], exclude: [String] = []) -> Target {
    .testTarget(
        name: name,
        dependencies: dependencies,
        path: "Tests/\(name)",
        exclude: exclude,
        swiftSettings: upcomingFeatures
    )
}

let package = Package(
    name: "swift-mesh",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "catalog-svc", targets: ["CatalogMain"]),
        .executable(name: "ca-svc", targets: ["CAMain"]),
        .executable(name: "authz-svc", targets: ["AuthzMain"]),
        .executable(name: "iam-auth-svc", targets: ["IAMAuthMain"]),
        .executable(name: "config-distributor", targets: ["ConfigDistributorMain"]),
        .executable(name: "mesh-proxy", targets: ["ProxyMain"]),
        .executable(name: "mesh-agent", targets: ["AgentMain"]),
        .executable(name: "meshctl", targets: ["MeshCTL"]),
        .executable(name: "mesh-bench", targets: ["MeshBench"]),
        .executable(name: "identity-bench", targets: ["IdentityBench"]),
        .executable(name: "login-bench", targets: ["LoginBench"]),
        .executable(name: "distributor-bench", targets: ["DistributorBench"]),
        .executable(name: "registration-reference", targets: ["RegistrationReference"]),
        .executable(name: "kv-bench", targets: ["KVBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    ],
    targets: [
        // Generated protobuf and gRPC code (proto/generate.sh).
        // (Generated code: built without InternalImportsByDefault, which protoc-gen-swift does not emit for.)
        .target(name: "MeshProto", dependencies: [.grpcCore, .grpcProtobuf, .protobuf], path: "Shared/MeshProto"),
        // Domain types and pure logic; never imports MeshProto.
        library("MeshCore", path: "Shared/MeshCore", dependencies: []),
        library(
            "MeshStore",
            path: "Shared/MeshStore",
            dependencies: ["MeshCore", .postgres, .lifecycle, .logging, .nio, .nioSSL, .metrics]
        ),
        // Flags-and-environment settings, addresses and logging setup for every executable.
        library("MeshProcess", path: "Shared/MeshProcess", dependencies: ["MeshCore", .logging, .argumentParser]),
        library(
            "MeshRPC",
            path: "Shared/MeshRPC",
            dependencies: [
                "MeshCore", "MeshProcess", .grpcCore, .grpcTransport, .hummingbird, .lifecycle, .logging, .metrics,
                .prometheus,
                .httpTypes, .nio, .argumentParser,
            ]
        ),
        // Listener limits (connection cap, handshake and idle deadlines) and gRPC keepalive, for
        // every listener and client, control plane and data plane alike.
        library(
            "MeshNet",
            path: "Shared/MeshNet",
            dependencies: [.nio, .nioSSL, .nioTLS, .grpcCore, .grpcTransport, .x509, .asn1]
        ),
        // The server every service runs, with or without a database: gRPC and REST listeners with
        // TLS, limits, metrics and readiness; token checks (ACLs). No PostgreSQL.
        library(
            "MeshServer",
            path: "Shared/MeshServer",
            dependencies: [
                "MeshCore", "MeshRPC", "MeshProto", "MeshNet", .grpcCore, .grpcTransport, .hummingbird,
                .lifecycle, .unixSignals, .argumentParser,
                .protobuf, .logging, .nio, .nioSSL, .hummingbirdTLS,
            ]
        ),
        // The store layer on top of MeshServer for the services with a database: migrations, the
        // change feed, leader election.
        library(
            "MeshStoreHost",
            path: "Shared/MeshStoreHost",
            dependencies: [
                "MeshCore", "MeshStore", "MeshServer", "MeshNet", "MeshRPC", .grpcCore, .hummingbird, .lifecycle,
                .logging, .postgres, .argumentParser,
            ]
        ),
        // AWS Signature Version 4 (and, with issue 6, the few AWS calls the mesh makes).
        library("AWS", path: "Shared/AWS", dependencies: [.crypto, .httpClient, .nio, .nioHTTP1, .nioFoundation]),
        // The data-plane tools' client of the REST API (login, registration), and AWS IAM login.
        library(
            "MeshClient",
            path: "Shared/MeshClient",
            dependencies: ["AWS", .httpClient, .nio, .nioHTTP1, .nioFoundation]
        ),
        // What the workloads' tools (mesh-proxy, mesh-agent) share to reach the control plane:
        // the one way to dial config-distributor, and leaves signed through it.
        library(
            "MeshWorkload",
            path: "Shared/MeshWorkload",
            dependencies: ["MeshCore", "MeshNet", "MeshProto", "MeshTLS", .grpcCore, .grpcTransport, .crypto]
        ),
        // Keys, CSRs, certificates and the CA's operations (pure apart from crypto).
        library("MeshTLS", path: "Shared/MeshTLS", dependencies: [.x509, .crypto, .cryptoExtras, .asn1]),
        // Local processes for `meshctl dev` and the tests: ephemeral PostgreSQL, children, free ports.
        library("MeshLocal", path: "Shared/MeshLocal", dependencies: ["MeshStore", .postgres, .logging]),
        // Test fixtures; never linked into a shipped executable (Tests/deploy/test_dependencies.py).
        library(
            "MeshTesting",
            path: "Shared/MeshTesting",
            dependencies: [
                "MeshCore", "MeshStore", "MeshRPC", "MeshLocal", "AWS", .postgres, .logging, .nioPosix, .nio,
                .httpClient, .nioHTTP1, .nioFoundation, .lifecycle,
            ]
        ),

        // The web UI's files are compiled into catalog-svc (PackageResources), so the binary and
        // its image carry them with no resource bundle to ship.
        .target(
            name: "Catalog",
            dependencies: [
                "MeshCore", "MeshStore", "MeshRPC", "MeshServer", "MeshStoreHost", "MeshProto", .grpcCore,
                .grpcTransport, .hummingbird,
                .protobuf, .lifecycle, .logging, .postgres, .metrics, .prometheus, .httpTypes, .nio,
            ],
            path: "Services/Catalog/Sources",
            resources: [.embedInCode("UI/index.html"), .embedInCode("UI/app.js"), .embedInCode("UI/app.css")],
            swiftSettings: upcomingFeatures
        ),
        executable(
            "CatalogMain",
            path: "Services/Catalog/Main",
            dependencies: [
                "MeshProcess", "Catalog", "MeshServer", "MeshStoreHost", .argumentParser, .lifecycle, .logging,
            ]
        ),
        library(
            "CA",
            path: "Services/CA/Sources",
            dependencies: [
                "MeshCore", "MeshStore", "MeshRPC", "MeshServer", "MeshStoreHost", "MeshProto", "MeshTLS", .grpcCore,
                .grpcTransport,
                .hummingbird, .protobuf, .lifecycle, .logging, .postgres, .httpTypes, .nio, .crypto, .x509, .metrics,
            ]
        ),
        executable(
            "CAMain",
            path: "Services/CA/Main",
            dependencies: ["MeshProcess", "CA", "MeshServer", "MeshStoreHost", .argumentParser, .lifecycle, .logging]
        ),
        library(
            "Authz",
            path: "Services/Authz/Sources",
            dependencies: [
                "MeshCore", "MeshStore", "MeshRPC", "MeshServer", "MeshStoreHost", "MeshProto", .grpcCore,
                .grpcTransport, .hummingbird,
                .protobuf, .lifecycle, .logging, .postgres, .httpTypes, .nio, .crypto,
            ]
        ),
        executable(
            "AuthzMain",
            path: "Services/Authz/Main",
            dependencies: [
                "MeshProcess", "Authz", "MeshServer", "MeshStoreHost", .argumentParser, .lifecycle, .logging,
            ]
        ),
        library(
            "IAMAuth",
            path: "Services/IAMAuth/Sources",
            dependencies: [
                "AWS", "MeshCore", "MeshStore", "MeshRPC", "MeshServer", "MeshStoreHost", "MeshProto", "MeshNet",
                .grpcCore,
                .grpcTransport, .hummingbird, .protobuf, .lifecycle, .logging, .postgres, .httpTypes, .nio, .nioHTTP1,
                .httpClient,
                .metrics,
            ]
        ),
        executable(
            "IAMAuthMain",
            path: "Services/IAMAuth/Main",
            dependencies: [
                "MeshProcess", "IAMAuth", "MeshServer", "MeshStoreHost", .argumentParser, .lifecycle, .logging,
            ]
        ),
        library(
            "ConfigDistributor",
            path: "Services/ConfigDistributor/Sources",
            dependencies: [
                "MeshCore", "MeshRPC", "MeshServer", "MeshProto", "MeshNet", .grpcCore, .grpcTransport, .hummingbird,
                .hummingbirdTLS, .protobuf, .lifecycle, .logging, .metrics,
            ]
        ),
        executable(
            "ConfigDistributorMain",
            path: "Services/ConfigDistributor/Main",
            dependencies: [
                "MeshProcess", "ConfigDistributor", "MeshServer", "MeshRPC", .argumentParser, .lifecycle, .logging,
            ]
        ),
        library(
            "Proxy",
            path: "Services/Proxy/Sources",
            dependencies: [
                "MeshCore", "MeshTLS", "MeshProto", "MeshNet", "MeshWorkload", "MeshProcess", .argumentParser, .nio,
                .nioPosix, .nioSSL, .nioTLS,
                .nioHTTP1, .nioHTTP2,
                .nioHPACK, .logging, .prometheus, .lifecycle, .unixSignals, .grpcCore, .grpcTransport, .crypto,
            ]
        ),
        // `--as-needed`: some dependency autolinks Foundation without using it; the proxy keeps
        // to FoundationEssentials, and not mapping Foundation and ICU saves ~9 MiB of RSS.
        .executableTarget(
            name: "ProxyMain",
            dependencies: ["Proxy", "MeshProcess"],
            path: "Services/Proxy/Main",
            swiftSettings: upcomingFeatures,
            linkerSettings: [.unsafeFlags(["-Xlinker", "--as-needed"])]
        ),
        // The Consul agent API on a local address (mesh-agent beside each app; meshctl dev).
        library(
            "MeshAgentAPI",
            path: "Shared/MeshAgentAPI",
            dependencies: [
                "MeshClient", "MeshCore", "MeshRPC", "MeshProto", "MeshNet", "MeshWorkload", .httpClient, .logging,
                .nio, .nioPosix, .nioHTTP1, .hummingbird, .httpTypes, .grpcCore, .grpcTransport, .lifecycle,
            ]
        ),
        library(
            "Agent",
            path: "Services/Agent/Sources",
            dependencies: [
                "MeshAgentAPI",
                "MeshClient", "MeshCore", "MeshRPC", "MeshProto", "MeshTLS", "MeshNet", "MeshWorkload", "MeshProcess",
                "AWS", .argumentParser, .httpClient, .logging, .lifecycle,
                .nio,
                .nioPosix, .nioHTTP1, .nioFoundation, .hummingbird, .httpTypes, .grpcCore, .grpcTransport, .crypto,
            ]
        ),
        executable(
            "AgentMain",
            path: "Services/Agent/Main",
            dependencies: ["Agent", "MeshProcess"]
        ),
        library(
            "CLI",
            path: "Services/CLI/Sources",
            dependencies: [
                "MeshAgentAPI", "MeshCore", "MeshRPC", "MeshStore", "MeshServer", "MeshNet", "MeshTLS", "MeshLocal",
                "MeshClient",
                .argumentParser, .httpClient,
                .lifecycle, .unixSignals, .logging, .nio, .nioFoundation, .nioHTTP1, .hummingbird, .httpTypes,
            ]
        ),
        executable("MeshCTL", path: "Services/CLI/Main", dependencies: ["MeshProcess", "CLI"]),
        // What every benchmark shares: output, statistics, the closed-loop rate measurement.
        library("BenchSupport", path: "Benchmarks/BenchSupport", dependencies: []),
        // The registration benchmark's reference server: catalog.register(...) behind the same stack.
        executable(
            "RegistrationReference",
            path: "Benchmarks/RegistrationReference",
            dependencies: [
                "MeshCore", "MeshProto", .grpcCore, .grpcTransport, .grpcProtobuf, .hummingbird, .postgres, .logging,
                .protobuf,
            ]
        ),
        executable(
            "MeshBench",
            path: "Benchmarks/MeshBench",
            dependencies: [
                "BenchSupport", "MeshCore", "MeshProto", "MeshStore", "MeshTesting", .grpcCore, .grpcTransport,
                .protobuf,
                .httpClient, .postgres, .logging, .nio, .nioHTTP1, .nioFoundation,
            ]
        ),

        executable(
            "IdentityBench",
            path: "Benchmarks/IdentityBench",
            dependencies: [
                "BenchSupport", "MeshCore", "MeshProto", "MeshRPC", "MeshServer", "MeshStore", "MeshTLS", "MeshTesting",
                .grpcCore,
                .grpcTransport, .protobuf, .httpClient, .logging, .nio, .nioHTTP1, .nioFoundation, .lifecycle, .crypto,
            ]
        ),

        // Control-plane services run in the test process, for suites that need several of them.
        library(
            "ControlPlaneHarness",
            path: "Tests/ControlPlaneHarness",
            dependencies: [
                "Authz", "Catalog", "IAMAuth", "CA", "ConfigDistributor", "MeshTLS", "MeshTesting", "MeshRPC",
                "MeshStore", "MeshStoreHost", "MeshCore", "MeshServer", .logging, .lifecycle,
            ]
        ),
        executable(
            "KVBench",
            path: "Benchmarks/KVBench",
            dependencies: [
                "BenchSupport", "MeshCore", "MeshStore", "MeshTesting", .httpClient, .postgres, .logging, .nio,
                .nioHTTP1, .nioFoundation,
            ]
        ),
        executable(
            "LoginBench",
            path: "Benchmarks/LoginBench",
            dependencies: ["BenchSupport", "ControlPlaneHarness", "MeshTesting", "AWS", .httpClient, .nioHTTP1]
        ),
        executable(
            "DistributorBench",
            path: "Benchmarks/DistributorBench",
            dependencies: [
                "BenchSupport", "ControlPlaneHarness", "MeshTesting", "MeshCore", "MeshProto", "MeshRPC", .grpcCore,
                .grpcTransport, .protobuf,
            ]
        ),
        tests("MeshCoreTests", dependencies: ["MeshCore", "MeshTesting"]),
        tests(
            "AWSTests",
            dependencies: ["AWS", "MeshTesting", .httpClient, .nio, .nioHTTP1, .nioPosix],
            exclude: ["Fixtures", "botocore_sign.py"]
        ),
        tests("MeshTLSTests", dependencies: ["MeshTLS", .x509, .crypto, .cryptoExtras, .asn1]),
        tests(
            "MeshStoreTests",
            dependencies: ["MeshStore", "MeshTesting", "MeshLocal", "MeshCore", .postgres, .logging]
        ),
        tests(
            "CatalogTests",
            dependencies: [
                "Catalog", "MeshProto", "MeshStore", "MeshStoreHost", "MeshTesting", "MeshRPC", "MeshCore", "MeshNet",
                .grpcCore,
                .grpcTransport, .httpClient, .postgres, .logging, .lifecycle, .nio, .nioPosix, .nioHTTP1,
                .nioFoundation,
                .protobuf,
            ]
        ),
        tests(
            "AuthzTests",
            dependencies: [
                "ControlPlaneHarness", "Authz", "Catalog", "MeshServer", "MeshTesting", "MeshRPC", "MeshCore",
                "MeshStore", "MeshStoreHost", "MeshTLS", "MeshNet",
                "MeshProto", .postgres, .logging, .lifecycle, .nioHTTP1, .httpClient, .grpcCore, .grpcTransport,
                .nioSSL, .nio, .protobuf,
            ]
        ),
        tests(
            "IAMAuthTests",
            dependencies: [
                "IAMAuth", "AWS", "ControlPlaneHarness", "MeshTesting", "MeshRPC", "MeshCore", "MeshStore", .httpClient,
                .logging, .lifecycle, .nio, .nioHTTP1,
            ]
        ),
        tests(
            "CATests",
            dependencies: [
                "CA", "Authz", "MeshTLS", "MeshProto", "MeshTesting", "MeshRPC", "MeshCore", "MeshStore",
                "MeshStoreHost", .grpcCore,
                .grpcTransport, .logging, .lifecycle, .nioHTTP1, .protobuf, .postgres, .crypto, .x509, .asn1,
            ]
        ),
        tests(
            "AgentTests",
            dependencies: [
                "Agent", "MeshAgentAPI", "MeshClient", "MeshCore", "MeshRPC", "MeshTesting", .hummingbird, .nio,
                .nioHTTP1,
            ]
        ),
        tests(
            "ConfigDistributorTests",
            dependencies: [
                "ConfigDistributor", "ControlPlaneHarness", "MeshTesting", "MeshProto", "MeshCore", "MeshRPC",
                "MeshTLS", "MeshNet", "MeshWorkload",
                .grpcCore, .grpcTransport, .protobuf, .logging,
            ]
        ),
        tests(
            "ProxyTests",
            dependencies: [
                "Proxy", "MeshCore", "MeshNet", "MeshTLS", "MeshTesting", "MeshProto", .nio, .nioPosix, .nioHTTP1,
                .nioHTTP2, .nioHPACK, .nioSSL, .logging,
                .grpcCore, .grpcTransport, .protobuf,
            ]
        ),
        tests(
            "CLITests",
            dependencies: ["CLI", "AWS", "MeshCore", "MeshTesting", .httpClient, .argumentParser, .nio],
            exclude: ["Fixtures"]
        ),
        tests(
            "EndToEndTests",
            dependencies: [
                "MeshTesting", "AWS", .hummingbird, "MeshCore", "MeshRPC", "MeshTLS", "MeshNet", "MeshProto",
                .httpClient,
                .logging, .nio,
                .nioHTTP1,
                .grpcCore, .grpcTransport, .protobuf,
            ]
        ),
    ]
)
