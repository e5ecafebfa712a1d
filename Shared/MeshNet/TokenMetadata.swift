public import GRPCCore

extension Metadata {
    /// The metadata key of the ACL token on every gRPC call, as Consul's gRPC APIs name it.
    public static let tokenKey = "x-consul-token"

    /// Adds `token` as the call's ACL token.
    public mutating func addToken(_ token: String) {
        self.addString(token, forKey: Self.tokenKey)
    }
}
