// TextDocuments: the documents of a perplexity task: one text file, every text file of a directory (sorted), or
// a JSONL file's "text" fields.
import ForgeCore
import ForgeData
import Foundation

public struct TextDocument: Sendable {
    public var name: String
    public var text: String
}

public enum TextDocuments {
    /// Reads the documents at `path`; an empty set is an error.
    public static func load(_ path: String) throws -> [TextDocument] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ForgeError.file(path, "does not exist") }
        var docs: [TextDocument] = []
        if isDir.boolValue {
            let names = try FileManager.default.subpathsOfDirectory(atPath: path).sorted()
            for n in names where [".txt", ".md", ".gz", ".zst"].contains(where: n.hasSuffix) {
                docs.append(TextDocument(name: n, text: try text(path + "/" + n)))
            }
        } else if path.hasSuffix(".jsonl") || path.hasSuffix(".jsonl.gz") || path.hasSuffix(".jsonl.zst") {
            let bytes = try Decompression.read(path)
            for (i, line) in bytes.split(separator: UInt8(ascii: "\n")).enumerated() {
                guard let o = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any], let t = o["text"] as? String else {
                    throw ForgeError.file(path, "line \(i + 1) is not a JSON object with a \"text\" string")
                }
                docs.append(TextDocument(name: "\(path):\(i + 1)", text: t))
            }
        } else {
            docs.append(TextDocument(name: (path as NSString).lastPathComponent, text: try text(path)))
        }
        docs.removeAll { $0.text.isEmpty }
        guard !docs.isEmpty else { throw ForgeError.file(path, "holds no text") }
        return docs
    }

    static func text(_ path: String) throws -> String {
        let bytes = try Decompression.read(path)
        guard let s = String(bytes: bytes, encoding: .utf8) else { throw ForgeError.file(path, "is not valid UTF-8") }
        return s
    }
}
