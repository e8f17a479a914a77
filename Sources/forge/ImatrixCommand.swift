// forge imatrix: llama-imatrix's importance matrix from calibration text, in its GGUF format.
import ArgumentParser
import ForgeCompress
import ForgeCore
import ForgeModels
import ForgeTokenizer
import Foundation

struct ImatrixCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imatrix",
        abstract: "Collect an importance matrix (mean squared input activations per column of every projection) for quantization.",
        discussion: """
        The model (a GGUF file or a model dir) reads the text in chunks of -c tokens (each chunk's first token replaced \
        by BOS when the tokenizer adds one, as llama-imatrix does); the sums of squares of every projection's inputs \
        and the token counts are written in llama.cpp's imatrix GGUF format, which llama-quantize and \
        `forge quantize --imatrix` read. The output matrix is left out, as llama-imatrix does by default.

        Example:
          forge imatrix --model smollm2.f32.gguf -f calibration.txt --output smollm2.imatrix.gguf
          forge quantize --model smollm2.f32.gguf --type Q4_K_M --imatrix smollm2.imatrix.gguf --output smollm2.Q4_K_M.gguf
        """)

    @Option(help: "A .gguf file or a model dir.") var model: String
    @Option(name: .customShort("f"), help: "Calibration text file.") var file: String
    @Option(help: "The imatrix .gguf to write.") var output: String
    @Option(name: .customShort("c"), help: "Tokens per chunk.") var context = 512
    @Option(help: "At most this many chunks (default: all).") var chunks: Int?
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isDir) else { throw ForgeError.file(model, "no such file or directory") }
        let transformer: Transformer, tokenizer: any TextTokenizer
        if isDir.boolValue {
            transformer = try ModelDir.loadModel(from: model)
            tokenizer = try ModelDir.loadTokenizer(from: model)
        } else {
            let f = try GGUFFile(path: model)
            transformer = try GGUFModel.transformer(f)
            tokenizer = try GGUFVocab.load(f)
        }
        guard let data = FileManager.default.contents(atPath: file) else { throw ForgeError.file(file, "cannot be read") }
        let tokens = try tokenizer.encode(utf8: [UInt8](data), invalid: .replace)
        let bos = tokenizer.addsBOS ? tokenizer.bosId : nil
        let m = try ImportanceMatrix.collect(transformer, tokens: tokens, chunkSize: context, maxChunks: chunks, bos: bos, dataset: file) {
            FileHandle.standardError.write(Data(("\r" + $0).utf8))
        }
        FileHandle.standardError.write(Data("\n".utf8))
        try m.write(to: output)
        print("\(output): \(m.sums.count) matrices, \(m.chunkCount) chunks of \(context) tokens")
    }
}
