import MeshCore
import Testing

@Suite("request normalization (the mesh entry's HTTP.Incoming.RequestNormalization)")
struct RequestNormalizationTests {
    @Test(
        "our defaults: every spelling of /admin becomes /admin; the query is untouched",
        arguments: [
            "/admin", "//admin", "/%61dmin", "/%61%64%6D%69%6E", "/./admin", "/x/../admin", "/x/%2E%2E/admin",
            "/../admin", "///admin/", "/admin/.", "/\\admin", "/x\\..\\admin", "/x/..//admin",
        ]
    )
    func spellingsOfAdmin(target: String) {
        let normalized = RequestNormalization.default.normalize(target: target)
        guard case .forward(let path) = normalized else {
            Issue.record("\(target): \(normalized)")
            return
        }
        #expect(path == "/admin" || path == "/admin/", "\(target) -> \(path)")
    }

    @Test("the query is kept as sent, escapes of reserved characters keep (uppercased) hex")
    func queryAndReserved() {
        let settings = RequestNormalization.default
        #expect(settings.normalize(target: "/a%3fb?x=%2F&y=/../z") == .forward("/a%3Fb?x=%2F&y=/../z"))
        #expect(settings.normalize(target: "/%2561") == .forward("/%2561"))
        #expect(settings.normalize(target: "*") == .forward("*"))
    }

    @Test(
        "refused: escaped slashes (by default), bad escapes, fragments, absolute form",
        arguments: [
            "/admin%2Fx", "/admin%2fx", "/a%5Cb", "/a%zz", "/a%2", "/a#frag", "http://x/admin", "admin", "\\admin",
        ]
    )
    func refused(target: String) {
        guard case .reject = RequestNormalization.default.normalize(target: target) else {
            Issue.record("\(target) was not refused")
            return
        }
    }

    @Test("escaped slash actions: keep, unescape and forward, unescape and redirect")
    func escapedSlashActions() {
        var settings = RequestNormalization.default
        settings.pathWithEscapedSlashesAction = .keepUnchanged
        #expect(settings.normalize(target: "/a%2fb") == .forward("/a%2Fb"))
        settings.pathWithEscapedSlashesAction = .unescapeAndForward
        #expect(settings.normalize(target: "/x%2F..%2Fadmin") == .forward("/admin"))
        settings.pathWithEscapedSlashesAction = .unescapeAndRedirect
        #expect(settings.normalize(target: "/a%2Fb?q") == .redirect("/a/b?q"))
        #expect(settings.normalize(target: "/a/b?q") == .forward("/a/b?q"))
    }

    @Test("Consul's own defaults (no merge) and normalization turned off")
    func consulDefaultsAndOff() {
        var consul = RequestNormalization.default
        consul.mergeSlashes = false
        consul.pathWithEscapedSlashesAction = .keepUnchanged
        #expect(consul.normalize(target: "//admin") == .forward("//admin"))
        #expect(consul.normalize(target: "/%61dmin") == .forward("/admin"))
        var off = consul
        off.insecureDisablePathNormalization = true
        #expect(off.normalize(target: "/%61dmin/./x\\y") == .forward("/%61dmin/./x\\y"))
    }

    @Test("a normalized target is its own fixed point", arguments: ["/a//b/../c/%7e/%3a/./d/", "/%2E%2E/x%41", "//"])
    func fixedPoint(target: String) throws {
        for mergeSlashes in [true, false] {
            var settings = RequestNormalization.default
            settings.mergeSlashes = mergeSlashes
            guard case .forward(let once) = settings.normalize(target: target) else {
                Issue.record("\(target) refused")
                continue
            }
            #expect(settings.normalize(target: once) == .forward(once))
        }
    }

    @Test("headers with underscores: allowed by default, or refused, or dropped")
    func underscores() {
        var settings = RequestNormalization.default
        #expect(settings.admits(headerNamed: "x_user") == .allow)
        settings.headersWithUnderscoresAction = .rejectRequest
        #expect(settings.admits(headerNamed: "x_user") == .rejectRequest)
        #expect(settings.admits(headerNamed: "x-user") == .allow)
        settings.headersWithUnderscoresAction = .dropHeader
        #expect(settings.admits(headerNamed: "x_user") == .dropHeader)
    }
}
