// ModelFingerprint: the SHA-256 of what a result was measured on: a GGUF file, or a model directory's weight,
// config and tokenizer files (each hashed, then the list of name and digest hashed), through swift-crypto.
import Crypto
import ForgeCore
import Foundation

public enum ModelFingerprint {
    /// Hex SHA-256 of a file or of a model directory's files.
    public static func sha256(_ path: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ForgeError.file(path, "does not exist") }
        guard isDir.boolValue else { return try file(path) }
        let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted().filter {
            $0.hasSuffix(".safetensors") || $0.hasSuffix(".json") || $0.hasSuffix(".bin") || $0.hasSuffix(".model")
        }
        var h = SHA256()
        for n in names { h.update(data: Data((n + " " + (try file(path + "/" + n)) + "\n").utf8)) }
        return hex(h.finalize())
    }

    static func file(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ForgeError.file(path, "cannot be read") }
        defer { try? handle.close() }
        var h = SHA256()
        while true {
            let chunk = handle.readData(ofLength: 8 << 20)
            if chunk.isEmpty { break }
            h.update(data: chunk)
        }
        return hex(h.finalize())
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 { digest.map { String(format: "%02x", $0) }.joined() }
}
