// forge sft: supervised fine-tuning on conversations, loss on the assistant's tokens only.
import ArgumentParser
import ForgeAlign
import ForgeCore
import ForgeTrain
import Foundation

enum FineTuneDefaults: TrainingDefaults { static var options: TrainingOptions { FineTuning.defaultOptions } }

extension ConversationFormat: ExpressibleByArgument {}
extension OverLong: ExpressibleByArgument {}

struct SFTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "Fine-tune a model on conversations (supervised, assistant tokens only).",
        discussion: """
        Conversations are rendered with the model's chat template (ChatML when it has none and its vocabulary has \
        ChatML's markers); the loss counts each assistant reply and the end-of-turn token closing it. Formats: \
        OpenAI messages JSONL, ShareGPT (JSON array, read record by record, or JSONL), chitchat-dataset's JSON and \
        chatterbot-corpus YAML. Several conversations share a sequence without attending to each other (--no-pack: \
        one per sequence, padded). Writes RUN/metrics.jsonl, RUN/checkpoint.safetensors and RUN/model/.

        Example:
          forge sft --model SmolLM2-135M-Instruct.Q4_1.gguf --data chats.jsonl --run runs/sft --steps 200
        """)

    @Option(help: "The base model: a .gguf file or a model dir.") var model: String
    @Option(parsing: .upToNextOption, help: "Conversation files or directories.") var data: [String]
    @Option(help: "Data format: auto, messages, sharegpt, chitchat or chatterbot.") var format: ConversationFormat = .auto
    @Option(name: .customLong("run"), help: "Run directory.") var runDir: String
    @Flag(help: "Continue from RUN/checkpoint.safetensors.") var resume = false
    @Flag(inversion: .prefixedNo, help: "Pack several conversations per sequence (no attention across them).") var pack = true
    @Option(help: "Share of conversations held out for validation.") var valFraction = 0.05
    @Option(help: "Conversations longer than --seq: error, truncate or skip.") var overLong: OverLong = .error
    @Option(help: "Train on at most this many conversations.") var limit: Int?
    @Option(help: "Write the examples of the first --steps batches as JSONL (input_ids, assistant_masks) and exit.")
    var dumpBatches: String?
    @OptionGroup var training: TrainingFlags<FineTuneDefaults>
    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        guard valFraction >= 0, valFraction < 1 else { throw ValidationError("--val-fraction must be in [0, 1)") }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
    }

    func run() throws {
        try threads.apply()
        var settings = FineTuneData(paths: data)
        settings.format = format.rawValue
        settings.validationFraction = valFraction
        settings.pack = pack
        settings.overLong = overLong
        settings.limit = limit
        let progress = ProgressLine()
        progress.line("loading \(model)")
        let base = try BaseModel.load(model)
        if let dumpBatches {
            let batches = try FineTuning.batches(base: base, data: settings, options: training.options, count: training.steps)
            var lines: [String] = []
            for (i, b) in batches.enumerated() {
                let rows = b.examples.map { row in row.map { e in
                    ["origin": e.origin, "input_ids": e.tokens.map(Int.init), "assistant_masks": e.trainable.map { $0 ? 1 : 0 }] as [String: Any]
                } }
                let data = try JSONSerialization.data(withJSONObject: ["batch": i, "sequences": rows], options: [.sortedKeys])
                lines.append(String(decoding: data, as: UTF8.self))
            }
            try AtomicFile.write(dumpBatches, string: lines.joined(separator: "\n") + "\n")
            progress.line("\(batches.count) batches written to \(dumpBatches)")
            return
        }
        Interrupt.install()
        let trainer = try FineTuning.trainer(base: base, data: settings, options: training.options, runDir: runDir, resume: resume,
                                             log: { progress.line($0) })
        let c = trainer.model.config
        progress.line("\(resume ? "resuming at step \(trainer.step)" : "fine-tuning"): \(c.architecture.rawValue) \(c.layers)×\(c.width), "
                      + "\(c.parameterCount) parameters, \(Parallel.threads) threads")
        let summary = try trainer.run()
        if summary.alreadyComplete { return }
        if summary.interrupted {
            progress.line("checkpoint saved: \(trainer.checkpointPath) (continue with --resume)")
            throw ExitCode(130)
        }
        progress.line("model: \(trainer.modelDir)")
    }
}
