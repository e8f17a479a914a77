// forge sample: text from a model dir, streamed to stdout.
import ArgumentParser
import ForgeCore
import ForgeModels
import ForgeTokenizer
import Foundation

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate text from a model dir with temperature and top-k.",
        discussion: "Example: forge sample --model runs/speedrun/model --prompt 'ROMEO.' --tokens 300")

    @Option(help: "Model directory (config.json, model.safetensors, tokenizer.json).") var model: String
    @Option(help: "Text to continue.") var prompt = "\n"
    @Option(help: "Tokens to generate.") var tokens = 200
    @Option(help: "Sampling temperature (0: greedy).") var temperature: Float = 0.8
    @Option(help: "Sample among the k most likely tokens (0: all).") var topK = 40
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        guard tokens >= 0 else { throw ValidationError("--tokens must not be negative") }
        guard temperature >= 0 else { throw ValidationError("--temperature must not be negative") }
        guard topK >= 0 else { throw ValidationError("--top-k must not be negative") }
    }

    func run() throws {
        try threads.apply()
        let m = try ModelDir.loadModel(from: model)
        let tok = try ModelDir.loadTokenizer(from: model)
        let ids = tok.encode(prompt)
        guard !ids.isEmpty else { throw ValidationError("--prompt must not be empty") }
        if let bad = ids.first(where: { Int($0) >= m.config.vocabSize }) {
            throw ForgeError.file(model, "the prompt encodes to token \(bad), outside the model's vocabulary of \(m.config.vocabSize)")
        }
        FileHandle.standardOutput.write(Data(prompt.utf8))
        var pending: [Int32] = []
        TextSampler.generate(m, prompt: ids, options: SamplingOptions(temperature: temperature, topK: topK, maxTokens: tokens, seed: seed)) { id in
            pending.append(id)
            let text = tok.decode(pending)
            if !text.hasSuffix("\u{FFFD}") || pending.count > 8 {  // hold back an incomplete UTF-8 character
                FileHandle.standardOutput.write(Data(text.utf8))
                pending.removeAll()
            }
            return true
        }
        FileHandle.standardOutput.write(Data((tok.decode(pending) + "\n").utf8))
    }
}
