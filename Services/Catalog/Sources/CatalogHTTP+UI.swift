import Foundation
import HTTPTypes
import Hummingbird
import MeshRPC
import NIOCore

/// The web UI at `/ui/` (docs/DECISIONS.md, "Web UI"): one page and its script and style,
/// compiled into catalog-svc, which the load balancer and `meshctl dev` already send every
/// path they do not name to. The page is public (it holds no data; the API it calls checks
/// the token), and is served with a content security policy that allows nothing but this
/// origin's own script, style and API: no inline script, no third-party request, no framing.
extension CatalogHTTP {
    struct UIAsset: Sendable {
        let bytes: [UInt8]
        let contentType: String
        let etag: String

        init(_ bytes: [UInt8], _ contentType: String) {
            self.bytes = bytes
            self.contentType = contentType
            // FNV-1a over the bytes: names this version of the file (not a security measure).
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            self.etag = "\"\(String(hash, radix: 16))\""
        }
    }

    static let uiPage = UIAsset(PackageResources.index_html, "text/html; charset=utf-8")
    static let uiAssets: [String: UIAsset] = [
        "app.js": UIAsset(PackageResources.app_js, "text/javascript; charset=utf-8"),
        "app.css": UIAsset(PackageResources.app_css, "text/css; charset=utf-8"),
    ]
    static let uiPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    func addUIRoutes(to router: Router<BasicRequestContext>) {
        // Also `/ui/`: Hummingbird's router does not tell the two apart (the page's own URLs are absolute).
        router.get("ui") { request, _ in Self.serve(Self.uiPage, request, cache: "no-cache") }
        router.get("ui/assets/:file") { request, context in
            let name = try ConsulHTTP.pathParameter("file", context, missing: "Missing file name")
            guard let asset = Self.uiAssets[name] else { return Response(status: .notFound) }
            // Revalidated each time (the ETag makes that a 304): a new version of the
            // page never runs with an old script.
            return Self.serve(asset, request, cache: "no-cache")
        }
    }

    private static func serve(_ asset: UIAsset, _ request: Request, cache: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = asset.contentType
        headers[.cacheControl] = cache
        headers[.eTag] = asset.etag
        headers[.contentSecurityPolicy] = Self.uiPolicy
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if request.headers[.ifNoneMatch] == asset.etag {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }
}
