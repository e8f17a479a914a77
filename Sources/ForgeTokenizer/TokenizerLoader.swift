// TokenizerLoader: opens a tokenizer from whatever the user points at: a tokenizer.json, a GGUF file,
// or a model directory holding a tokenizer.json.
import ForgeCore
import Foundation

public enum TokenizerLoader {
    public static func load(_ path: String) throws -> any TextTokenizer {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ForgeError.file(path, "no such file or directory") }
        if path.hasSuffix(".gguf") { return try GGUFVocab.load(path: path) }
        let file = isDir.boolValue ? path + "/tokenizer.json" : path
        if isWordPiece(file) { return try WordPieceTokenizer.load(from: file) }
        if isDir.boolValue { return try TokenizerJSON.load(modelDir: path) }
        return try TokenizerJSON.load(from: path)
    }

    /// Whether a tokenizer.json holds a WordPiece model (BERT). Files with a "WordPiece" string anywhere are parsed to
    /// look at the model's "type"; the others are not WordPiece.
    static func isWordPiece(_ file: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: file), data.range(of: Data("\"WordPiece\"".utf8)) != nil,
              let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return false }
        return (json["model"] as? [String: Any])?["type"] as? String == "WordPiece"
    }
}
