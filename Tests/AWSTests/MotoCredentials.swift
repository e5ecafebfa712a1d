import AWS
import MeshTesting

extension MotoServer {
    /// Any key pair works against moto while its authentication is off; these are the documented example keys.
    static let credentials = StaticCredentialsProvider(
        AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    )
}
