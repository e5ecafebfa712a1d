// Settings, addresses and logging setup moved to MeshProcess (so the proxy can use them without
// linking the control plane's server stack); re-exported here for the services that import MeshRPC.
@_exported public import MeshProcess
