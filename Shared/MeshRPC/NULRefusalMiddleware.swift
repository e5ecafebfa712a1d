public import Hummingbird

/// Refuses a request whose target carries an escaped NUL (`%00`, in the path or the query) with
/// 400 before any handler sees it: no name, ID or note may hold U+0000 (PostgreSQL's text cannot,
/// and such a request failed as a 500 deep in a store).
public struct NULRefusalMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let target = request.uri.description.utf8
        var previous: (UInt8, UInt8) = (0, 0)
        for byte in target {
            if previous == (UInt8(ascii: "%"), UInt8(ascii: "0")) && byte == UInt8(ascii: "0") {
                throw ConsulHTTPError(.badRequest, "Request URI may not contain U+0000 (%00)")
            }
            previous = (previous.1, byte)
        }
        return try await next(request, context)
    }
}
