// CompressionData: the text a compression step calibrates, recovers and is measured on: text files encoded with
// the model's tokenizer (documents joined by its end-of-text token), the last tenth held out, both written as token
// shards in the run dir so the recovery and distillation runs train on them like any pretraining run.
import ForgeCore
import ForgeTokenizer
import ForgeTrain
import Foundation

public struct CompressionData {
    public let train: TokenDataset
    public let validation: TokenDataset
    /// Held-out tokens, for perplexity.
    public let heldOut: [Int32]

    /// Encodes `files` into RUN/data/{train,val}.bin (the last `heldOutFraction` held out).
    public init(files: [String], tokenizer: any TextTokenizer, runDir: String, heldOutFraction: Double = 0.1) throws {
        guard !files.isEmpty else { throw ForgeError("no text files given (--data)") }
        var tokens: [Int32] = []
        for f in files {
            guard let data = FileManager.default.contents(atPath: f) else { throw ForgeError.file(f, "cannot be read") }
            tokens += try tokenizer.encode(utf8: [UInt8](data), invalid: .replace)
            if let eos = tokenizer.eosId { tokens.append(eos) }
        }
        let cut = Int(Double(tokens.count) * (1 - heldOutFraction))
        guard cut >= 1024, tokens.count - cut >= 256 else {
            throw ForgeError("the text gives \(tokens.count) tokens; at least ~1,300 are needed (1,024 to train on, 256 held out)")
        }
        let dir = runDir + "/data"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try TokenShard.write(Array(tokens[..<cut]), vocabSize: tokenizer.vocabSize, to: dir + "/train.bin")
        try TokenShard.write(Array(tokens[cut...]), vocabSize: tokenizer.vocabSize, to: dir + "/val.bin")
        train = try TokenDataset(paths: [dir + "/train.bin"])
        validation = try TokenDataset(paths: [dir + "/val.bin"])
        heldOut = Array(tokens[cut...])
    }
}
