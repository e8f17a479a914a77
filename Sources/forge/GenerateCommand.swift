// forge generate: one prompt, streamed to stdout, from a GGUF file or a model dir.
import ArgumentParser
import Forge
import ForgeCore
import ForgeInference
import Foundation

/// Sampling settings shared by generate and chat.
struct SamplingFlags: ParsableArguments {
    @Option(help: "Sampling temperature (0: greedy).") var temperature: Float = 0.8
    @Option(help: "Keep the k most likely tokens (0: all).") var topK = 40
    @Option(help: "Keep the most likely tokens up to this total probability (1: all).") var topP: Float = 0.95
    @Option(help: "Drop tokens below this fraction of the top probability (0: none).") var minP: Float = 0.05
    @Option(help: "Repetition penalty on recent tokens (1: off).") var repeatPenalty: Float = 1
    @Option(help: "Frequency penalty (OpenAI style, 0: off).") var frequencyPenalty: Float = 0
    @Option(help: "Presence penalty (OpenAI style, 0: off).") var presencePenalty: Float = 0
    @Option(help: "Recent tokens the penalties look at (-1: all).") var penaltyLastN = 64
    @Option(help: "Random seed (the same seed gives the same text).") var seed: UInt64 = 0
    @Option(name: .customLong("stop"), help: "Stop before this string (repeatable).") var stop: [String] = []
    @Option(name: [.customShort("n"), .long], help: "Most tokens to generate.") var maxTokens = 256

    var settings: GenerationSettings {
        var s = GenerationSettings()
        s.maxTokens = maxTokens
        s.stop = stop
        s.sampling.temperature = temperature
        s.sampling.topK = topK
        s.sampling.topP = topP
        s.sampling.minP = minP
        s.sampling.repetitionPenalty = repeatPenalty
        s.sampling.frequencyPenalty = frequencyPenalty
        s.sampling.presencePenalty = presencePenalty
        s.sampling.penaltyWindow = penaltyLastN
        s.sampling.seed = seed
        return s
    }

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must not be negative") }
        do { try settings.sampling.validate() } catch let e as ForgeError { throw ValidationError(e.description) }
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt with a GGUF model or a model dir, streaming the text.",
        discussion: """
            Examples:
              forge generate --model SmolLM2-135M-Instruct.Q4_1.gguf --prompt 'The capital of France is' -n 32
              forge generate --model runs/speedrun/model --prompt 'ROMEO.' --temperature 0.7 --seed 3
              forge generate --model SmolLM2-135M-Instruct.Q4_1.gguf --chat --prompt 'A user named Ann, 31' --json-schema person.json
            """,
        aliases: ["sample"])

    @Option(help: "A .gguf file or a model directory.") var model: String
    @Option(help: "A LoRA adapter dir (PEFT layout) applied without merging.") var lora: String?
    @Option(help: "Text to continue.") var prompt: String?
    @Option(help: "Read the prompt from this file.") var promptFile: String?
    @Flag(help: "Wrap the prompt as one user message in the model's chat template.") var chat = false
    @Flag(help: "Treat marker tokens written in the prompt (such as <|im_start|>) as plain text.") var noSpecial = false
    @Option(help: "Context window in tokens (default: the model's).") var context: Int?
    @Option(help: "Key/value cache type: f16 (llama.cpp's default and arithmetic) or f32.") var cacheType: KVCacheType = .f16
    @Flag(help: "Print timings (prompt and generation tokens/s) and the cache's memory to stderr.") var stats = false
    @Flag(help: "Print the generated token ids (space-separated) instead of the text.") var ids = false
    @Option(help: "Generate only JSON that this JSON schema file accepts (structured output).") var jsonSchema: String?
    @Flag(help: "Generate only a JSON object (any).") var json = false
    @OptionGroup var sampling: SamplingFlags
    @OptionGroup var guardOptions: GuardOptions
    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        guard (prompt == nil) != (promptFile == nil) else { throw ValidationError("give exactly one of --prompt and --prompt-file") }
        guard jsonSchema == nil || !json else { throw ValidationError("give at most one of --json-schema and --json") }
    }

    func run() throws {
        try threads.apply()
        var text = prompt ?? ""
        if let promptFile {
            guard let data = FileManager.default.contents(atPath: promptFile) else { throw ForgeError.file(promptFile, "cannot be read") }
            guard let s = String(data: data, encoding: .utf8) else { throw ForgeError.file(promptFile, "is not valid UTF-8") }
            text = s
        }
        let guardrails = try guardOptions.load()
        if let guardrails {
            let v = guardrails.inspect(text, .input)
            if let b = v.blocked {
                FileHandle.standardError.write(Data("the prompt was blocked by the guardrails: \(b.code) (\(b.detail))\n".utf8))
                throw ExitCode(3)
            }
            text = v.text
        }
        let grammar = try jsonSchema.map { path in
            guard let data = FileManager.default.contents(atPath: path) else { throw ForgeError.file(path, "cannot be read") }
            do { return try JSONSchemaGrammar.compile(String(decoding: data, as: UTF8.self)) }
            catch let e as ForgeError { throw ForgeError.file(path, e.description) }
        } ?? (json ? JSONSchemaGrammar.anyObject() : nil)
        let lm = try LanguageModel.load(model, lora: lora, contextLength: context, cacheType: cacheType)
        if chat { text = try lm.loaded.chatPrompt([.init(role: "user", content: text)]) }
        if !chat && !ids { FileHandle.standardOutput.write(Data(text.utf8)) }
        var settings = sampling.settings
        if chat { settings.stop += lm.loaded.chatStops }
        if let grammar {
            settings.constraint = try TokenConstraint(grammar: grammar, vocabulary: TokenVocabulary(lm.loaded), endTokens: lm.loaded.endTokens)
        }
        let stream = guardrails?.stream()
        let result = try lm.generate(text, settings: settings, special: !noSpecial || chat) { piece in
            let shown = stream.map { $0.feed(piece) } ?? piece
            if !ids { FileHandle.standardOutput.write(Data(shown.utf8)) }
            return stream?.blocked == nil
        }
        if let stream {
            let rest = stream.finish()
            if !ids { FileHandle.standardOutput.write(Data(rest.utf8)) }
            if let b = stream.blocked {
                FileHandle.standardOutput.write(Data("\n".utf8))
                FileHandle.standardError.write(Data("the reply was stopped by the guardrails: \(b.code) (\(b.detail))\n".utf8))
                throw ExitCode(3)
            }
        }
        if ids { FileHandle.standardOutput.write(Data(result.tokens.map(String.init).joined(separator: " ").utf8)) }
        FileHandle.standardOutput.write(Data("\n".utf8))
        if stats {
            let pp = Double(result.promptTokensComputed) / max(result.prefillSeconds, 1e-9)
            let tg = Double(result.tokens.count) / max(result.decodeSeconds, 1e-9)
            let line = "prompt: \(result.promptTokens) tokens, \(String(format: "%.1f", pp)) tokens/s · generated: "
                + "\(result.tokens.count) tokens, \(String(format: "%.1f", tg)) tokens/s · finish: \(result.finishReason.rawValue) · "
                + String(format: "key/value cache: %.1f MiB in %d blocks\n", Double(lm.cacheUsage.bytes) / 1048576, lm.cacheUsage.blocks)
            FileHandle.standardError.write(Data(line.utf8))
        }
    }
}

extension KVCacheType: ExpressibleByArgument {}
