// Ephemeral PostgreSQL, child processes and free ports live in MeshLocal (shipped: `meshctl dev`
// runs the mesh with them); re-exported here for the tests.
@_exported public import MeshLocal
