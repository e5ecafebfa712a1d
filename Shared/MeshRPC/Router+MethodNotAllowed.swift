import HTTPTypes
public import Hummingbird
import NIOCore

extension Router {
    /// The methods a Consul-compatible path may be called with.
    static var apiMethods: [HTTPRequest.Method] { [.get, .put, .post, .delete, .patch] }

    /// Answers, on every path registered so far, the methods it does not serve as Consul does:
    /// 405 `method X not allowed` with `Allow: OPTIONS,<its methods>`, and OPTIONS with 200 and
    /// the same `Allow` (rather than Hummingbird's 404, which says the path does not exist).
    /// Call it after the last route is added.
    public func answerWrongMethods() {
        var served: [String: (path: RouterPath, methods: Set<HTTPRequest.Method>)] = [:]
        for route in self.routes {
            served[route.path.description, default: (route.path, [])].methods.insert(route.method)
        }
        for (_, entry) in served {
            let allowed = Self.apiMethods.filter { entry.methods.contains($0) }
            guard !allowed.isEmpty else { continue }
            let allow = (["OPTIONS"] + allowed.map(\.rawValue)).joined(separator: ",")
            for method in Self.apiMethods where !entry.methods.contains(method) {
                self.on(entry.path, method: method) { request, _ in
                    var headers = HTTPFields()
                    headers[.allow] = allow
                    headers[.contentType] = "text/plain; charset=utf-8"
                    return Response(
                        status: .methodNotAllowed,
                        headers: headers,
                        body: ResponseBody(
                            byteBuffer: ByteBuffer(string: "method \(request.method.rawValue) not allowed")
                        )
                    )
                }
            }
            if !entry.methods.contains(.options) {
                self.on(entry.path, method: .options) { _, _ in
                    var headers = HTTPFields()
                    headers[.allow] = allow
                    return Response(status: .ok, headers: headers)
                }
            }
        }
    }
}
