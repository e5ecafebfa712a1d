public import MeshCore
public import MeshProto

extension Mesh_V1_RequestNormalization {
    /// The settings as the catalog streams them to the config-distributor.
    public init(_ settings: RequestNormalization) {
        self.init()
        self.insecureDisablePathNormalization = settings.insecureDisablePathNormalization
        self.mergeSlashes = settings.mergeSlashes
        self.pathWithEscapedSlashesAction = settings.pathWithEscapedSlashesAction.rawValue
        self.headersWithUnderscoresAction = settings.headersWithUnderscoresAction.rawValue
    }
}

extension RequestNormalization {
    /// The streamed settings; an action this build does not know keeps its default.
    public init(_ message: Mesh_V1_RequestNormalization) {
        self.init(
            insecureDisablePathNormalization: message.insecureDisablePathNormalization,
            mergeSlashes: message.mergeSlashes,
            pathWithEscapedSlashesAction: EscapedSlashesAction(rawValue: message.pathWithEscapedSlashesAction)
                ?? RequestNormalization.default.pathWithEscapedSlashesAction,
            headersWithUnderscoresAction: UnderscoresAction(rawValue: message.headersWithUnderscoresAction)
                ?? RequestNormalization.default.headersWithUnderscoresAction
        )
    }
}
