import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A 256-bit AES-GCM key that encrypts CA private keys before they are stored.
///
/// The CA service reads it once from configuration (`MESH_CA_KEK`, base64 of 32 bytes) and
/// never stores it next to what it protects. `description` never reveals the key.
public struct KeyEncryptionKey: Sendable, CustomStringConvertible {
    private let key: SymmetricKey

    /// The number of key bytes: AES-256.
    public static let byteCount = 32

    private init(key: SymmetricKey) {
        self.key = key
    }

    /// Parses base64 text, ignoring surrounding whitespace and newlines.
    ///
    /// - Parameter settingName: the flag or variable the text came from, named in the error.
    /// - Throws: `.invalidKey` unless the text is base64 of exactly 32 bytes.
    public init(base64 text: String, settingName: String = "MESH_CA_KEK") throws(KeyEncryptionError) {
        let trimmed = String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        guard let bytes = Data(base64Encoded: trimmed) else {
            throw KeyEncryptionError(
                .invalidKey,
                "\(settingName) must be base64 of exactly \(Self.byteCount) bytes (not valid base64)"
            )
        }
        guard bytes.count == Self.byteCount else {
            throw KeyEncryptionError(
                .invalidKey,
                "\(settingName) must be base64 of exactly \(Self.byteCount) bytes (got \(bytes.count))"
            )
        }
        self.init(key: SymmetricKey(data: bytes))
    }

    /// A fresh random key, for `meshctl` and tests.
    public static func generate() -> KeyEncryptionKey {
        KeyEncryptionKey(key: SymmetricKey(size: .bits256))
    }

    /// The key as base64 text, the form `init(base64:)` reads. Treat it as a secret.
    public var base64: String {
        self.key.withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// Encrypts and authenticates `plaintext`, binding it to `associatedData`.
    ///
    /// Returns nonce (12 bytes) || ciphertext || tag (16 bytes), with a random nonce per call.
    /// Pass the same `associatedData` (for example the root's ID) to `open`; it is not stored.
    public func seal(_ plaintext: [UInt8], associatedData: [UInt8] = []) -> [UInt8] {
        // AES-GCM sealing only fails for a malformed nonce; CryptoKit picks a valid random one here.
        let box = try! AES.GCM.seal(plaintext, using: self.key, authenticating: associatedData)
        // `combined` is only nil for nonces of a non-default size.
        return Array(box.combined!)
    }

    /// Decrypts a value made by `seal` with the same key and associated data.
    ///
    /// - Throws: `.openFailed` when the value was altered or truncated, or the key or
    ///   associated data differ.
    public func open(_ sealed: [UInt8], associatedData: [UInt8] = []) throws(KeyEncryptionError) -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: self.key, authenticating: associatedData))
        } catch {
            throw KeyEncryptionError(
                .openFailed,
                "sealed key could not be opened: it was altered, or sealed under another key-encryption key"
            )
        }
    }

    /// Never reveals the key.
    public var description: String { "KeyEncryptionKey(redacted)" }
}
