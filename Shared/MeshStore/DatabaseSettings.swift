import Foundation
public import PostgresNIO

/// Where a service's PostgreSQL is and how to log in.
///
/// Comes from `--database-url` / `MESH_DATABASE_URL` (`postgres://user:pass@host:port/db?sslmode=...`)
/// or from libpq's variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`,
/// `PGSSLMODE`), so that on ECS the password alone can come from Secrets Manager.
/// Values in the URL win over the variables.
public struct DatabaseSettings: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    /// `disable` (the default), `require`, or `verify-full`.
    public var sslMode: String
    /// Pool size of each process.
    public var maximumConnections: Int

    public init(
        host: String = "127.0.0.1",
        port: Int = 5432,
        username: String = "postgres",
        password: String? = nil,
        database: String = "postgres",
        sslMode: String = "disable",
        maximumConnections: Int = 20
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.maximumConnections = maximumConnections
    }

    /// The settings without the password, safe to log.
    public var description: String {
        "postgres://\(self.username)@\(self.host):\(self.port)/\(self.database)?sslmode=\(self.sslMode)"
    }

    /// A URL form of the settings (password included), for handing to a child process.
    public var url: String {
        var userInfo = Self.percentEncode(self.username)
        if let password = self.password { userInfo += ":" + Self.percentEncode(password) }
        return
            "postgres://\(userInfo)@\(self.host):\(self.port)/\(Self.percentEncode(self.database))?sslmode=\(self.sslMode)"
    }

    /// Settings from a URL (when given) layered over libpq's `PG*` variables in `environment`.
    public static func resolve(
        url: String?,
        environment: [String: String]
    ) throws(ConfigurationError)
        -> DatabaseSettings
    {
        var settings = DatabaseSettings(
            host: environment["PGHOST"] ?? "127.0.0.1",
            port: 5432,
            username: environment["PGUSER"] ?? "postgres",
            password: environment["PGPASSWORD"],
            database: environment["PGDATABASE"] ?? environment["PGUSER"] ?? "postgres",
            sslMode: environment["PGSSLMODE"] ?? "disable"
        )
        if let port = environment["PGPORT"] {
            guard let value = Int(port), (1...65535).contains(value) else {
                throw ConfigurationError(setting: "PGPORT", reason: "not a port number: \(port)")
            }
            settings.port = value
        }
        guard let url, !url.isEmpty else {
            guard environment["PGHOST"] != nil || environment["PGDATABASE"] != nil else {
                throw ConfigurationError(
                    setting: "--database-url / MESH_DATABASE_URL",
                    reason: "required (or set PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE)"
                )
            }
            return settings
        }
        guard let components = URLComponents(string: url),
            components.scheme == "postgres" || components.scheme == "postgresql"
        else {
            throw ConfigurationError(
                setting: "--database-url / MESH_DATABASE_URL",
                reason: "expected postgres://user:password@host:port/database"
            )
        }
        if let host = components.host, !host.isEmpty { settings.host = host }
        if let port = components.port { settings.port = port }
        if let user = components.percentEncodedUser, !user.isEmpty {
            settings.username = user.removingPercentEncoding ?? user
        }
        if let password = components.percentEncodedPassword {
            settings.password = password.removingPercentEncoding ?? password
        }
        let path = components.percentEncodedPath.drop { $0 == "/" }
        if !path.isEmpty { settings.database = String(path).removingPercentEncoding ?? String(path) }
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode": settings.sslMode = item.value ?? settings.sslMode
            case "pool_max_conns", "max_connections":
                if let value = item.value.flatMap(Int.init), value > 0 { settings.maximumConnections = value }
            default: break
            }
        }
        guard ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].contains(settings.sslMode) else {
            throw ConfigurationError(setting: "sslmode", reason: "unknown mode \(settings.sslMode)")
        }
        return settings
    }

    /// The postgres-nio configuration for these settings.
    public func clientConfiguration() throws -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: self.host,
            port: self.port,
            username: self.username,
            password: self.password,
            database: self.database,
            tls: self.sslMode == "disable" || self.sslMode == "allow" || self.sslMode == "prefer"
                ? .disable : .require(TLSConfiguration.makeClientConfiguration())
        )
        configuration.options.maximumConnections = self.maximumConnections
        configuration.options.minimumConnections = 0
        return configuration
    }

    /// The configuration of a single dedicated connection (LISTEN, leadership).
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        PostgresConnection.Configuration(
            host: self.host,
            port: self.port,
            username: self.username,
            password: self.password,
            database: self.database,
            tls: try self.tls()
        )
    }

    private func tls() throws -> PostgresConnection.Configuration.TLS {
        switch self.sslMode {
        case "disable", "allow", "prefer": return .disable
        case "require", "verify-ca": return .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        default:
            return .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
    }

    private static func percentEncode(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value
    }
}

/// A setting that cannot be used, naming the flag or variable it came from.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var setting: String
    public var reason: String

    public init(setting: String, reason: String) {
        self.setting = setting
        self.reason = reason
    }

    public var description: String { "\(self.setting): \(self.reason)" }
}
