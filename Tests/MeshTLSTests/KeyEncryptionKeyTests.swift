import Foundation
import MeshTLS
import Testing

@Suite("Key-encryption key")
struct KeyEncryptionKeyTests {
    @Test("parses base64 of 32 bytes, trimming whitespace, and round-trips")
    func parsesAndRoundTrips() throws {
        let original = KeyEncryptionKey.generate()
        let parsed = try KeyEncryptionKey(base64: "  \(original.base64)\n")
        #expect(parsed.base64 == original.base64)
        let sealed = original.seal(Array("secret key".utf8), associatedData: Array("root-1".utf8))
        #expect(sealed.count == 12 + 10 + 16)
        #expect(try parsed.open(sealed, associatedData: Array("root-1".utf8)) == Array("secret key".utf8))
    }

    @Test("rejects keys of the wrong length with a clear message")
    func rejectsWrongLength() {
        let short = Data(repeating: 7, count: 16).base64EncodedString()
        let error = #expect(throws: KeyEncryptionError.self) { try KeyEncryptionKey(base64: short) }
        #expect(error?.code == .invalidKey)
        #expect(error?.reason == "MESH_CA_KEK must be base64 of exactly 32 bytes (got 16)")
    }

    @Test("rejects text that is not base64", arguments: ["", "not base64!", "abc"])
    func rejectsGarbage(text: String) {
        let error = #expect(throws: KeyEncryptionError.self) { try KeyEncryptionKey(base64: text) }
        #expect(error?.code == .invalidKey)
    }

    @Test("open refuses tampering, other associated data and other keys")
    func detectsTampering() {
        let key = KeyEncryptionKey.generate()
        let sealed = key.seal(Array("payload".utf8), associatedData: [1])
        for index in [0, 12, sealed.count - 1] {
            var tampered = sealed
            tampered[index] ^= 0x01
            #expect(throws: KeyEncryptionError(.openFailed, "")) { try key.open(tampered, associatedData: [1]) }
        }
        #expect(throws: KeyEncryptionError(.openFailed, "")) { try key.open(sealed, associatedData: [2]) }
        #expect(throws: KeyEncryptionError(.openFailed, "")) {
            try KeyEncryptionKey.generate().open(sealed, associatedData: [1])
        }
        #expect(throws: KeyEncryptionError(.openFailed, "")) { try key.open(Array(sealed.prefix(20))) }
        #expect(!"\(key)".contains(key.base64))
    }
}
