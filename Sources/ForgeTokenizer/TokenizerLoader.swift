// TokenizerLoader: opens a tokenizer from whatever the user points at: a tokenizer.json, a GGUF file,
// or a model directory holding a tokenizer.json.
import ForgeCore
import Foundation

public enum TokenizerLoader {
    public static func load(_ path: String) throws -> any TextTokenizer {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ForgeError.file(path, "no such file or directory") }
        if isDir.boolValue { return try TokenizerJSON.load(modelDir: path) }
        if path.hasSuffix(".gguf") { return try GGUFVocab.load(path: path) }
        return try TokenizerJSON.load(from: path)
    }
}
