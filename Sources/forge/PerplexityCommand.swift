// forge perplexity: llama-perplexity's protocol on a text file.
import ArgumentParser
import ForgeCore
import ForgeInference
import Foundation

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a text file, scored as llama-perplexity does (windows of -c tokens, second half scored).",
        discussion: "Example: forge perplexity --model SmolLM2-135M-Instruct.Q4_1.gguf --file text.txt -c 512")

    @Option(help: "A .gguf file or a model directory.") var model: String
    @Option(help: "A LoRA adapter dir (PEFT layout) applied without merging.") var lora: String?
    @Option(name: [.customShort("f"), .long], help: "UTF-8 text file.") var file: String
    @Option(name: [.customShort("c"), .long], help: "Window (context) length in tokens.") var context = 512
    @Option(help: "Score at most this many windows (0: all).") var chunks = 0
    @Flag(help: "Print the result as one JSON object.") var json = false
    @Option(help: "Key/value cache type: f16 (llama.cpp's default and arithmetic) or f32.") var cacheType: KVCacheType = .f16
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        guard let data = FileManager.default.contents(atPath: file) else { throw ForgeError.file(file, "cannot be read") }
        guard let text = String(data: data, encoding: .utf8) else { throw ForgeError.file(file, "is not valid UTF-8") }
        let loaded = try LoadedModel.open(model, lora: lora)
        guard context <= loaded.model.config.contextLength else {
            throw ValidationError("-c \(context) is longer than the model's context of \(loaded.model.config.contextLength)")
        }
        var tokens = loaded.encode(text, special: false, addBOS: true)
        if chunks > 0 { tokens = Array(tokens.prefix(chunks * context)) }
        let bos = loaded.addsBOS ? loaded.bosId : nil
        FileHandle.standardError.write(Data("\(tokens.count) tokens, \(tokens.count / context) windows of \(context)\n".utf8))
        let start = ContinuousClock.now
        let r = try Perplexity.evaluate(loaded.model, tokens: tokens, context: context, bos: bos, cacheType: cacheType) { w, n, ppl in
            let secs = (ContinuousClock.now - start).inSeconds
            let eta = secs / Double(w) * Double(n - w)
            FileHandle.standardError.write(Data(("[\(w)/\(n)] perplexity \(String(format: "%.4f", ppl)), "
                + "\(String(format: "%.0f", Double(w * context) / secs)) tokens/s, ETA \(String(format: "%.0f", eta)) s\n").utf8))
        }
        if json {
            let obj: [String: Any] = ["perplexity": r.perplexity, "stderr": r.standardError, "windows": r.windows,
                                      "scored_tokens": r.scoredTokens, "context": context, "tokens_per_second": r.tokensPerSecond]
            print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print("perplexity \(String(format: "%.4f", r.perplexity)) ± \(String(format: "%.4f", r.standardError)) "
                  + "over \(r.scoredTokens) tokens in \(r.windows) windows of \(context) (\(String(format: "%.0f", r.tokensPerSecond)) tokens/s)")
        }
    }
}
