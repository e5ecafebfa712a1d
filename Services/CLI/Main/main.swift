import CLI
import MeshProcess

// Errors are one line on stderr (`Error: <description>`, status 1), never a stack trace.
await MeshCTL.runAsMain()
