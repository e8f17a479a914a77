// forge sft: supervised fine-tuning on conversations, loss on the assistant's tokens only.
import ArgumentParser
import ForgeAlign
import ForgeCore
import ForgeModels
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
    @Option(help: "Write the trainable parameters' gradients on the first batch (safetensors) and exit.")
    var dumpGradients: String?
    @Flag(help: "Take the data in file order every epoch instead of shuffling.") var sequential = false
    @OptionGroup var loraFlags: LoRAFlags
    @Flag(help: "With LoRA on a .gguf base: keep the base in its stored type (decoded strip by strip), not in Float32.") var qlora = false
    @OptionGroup var training: TrainingFlags<FineTuneDefaults>
    @OptionGroup var threads: ThreadOptions
    @OptionGroup var distributed: DistributedOptions

    func validate() throws {
        guard valFraction >= 0, valFraction < 1 else { throw ValidationError("--val-fraction must be in [0, 1)") }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
    }

    func run() throws {
        try threads.apply(distributed: true)
        try distributed.run(explicitThreads: threads.threads != nil) { _ in try runTraining() }
    }

    func runTraining() throws {
        var settings = FineTuneData(paths: data)
        settings.format = format.rawValue
        settings.validationFraction = valFraction
        settings.pack = pack
        settings.overLong = overLong
        settings.limit = limit
        settings.sequential = sequential
        let progress = ProgressLine()
        progress.line("loading \(model)")
        if qlora && loraFlags.rank == nil && loraFlags.initial == nil { throw ValidationError("--qlora trains LoRA adapters: give --lora-rank") }
        let base = try BaseModel.load(model, stored: qlora)
        let loraInit = try loraFlags.initial.map { try LoRA.load($0, for: base.transformer.config) }
        if let dumpGradients {
            if let loraInit { try LoRA.attach(loraInit, to: base.transformer) }
            else if let lora = try loraFlags.config() { try LoRA.attach(lora, to: base.transformer, seed: training.seed) }
            let grads = try FineTuning.firstGradients(base: base, data: settings, options: training.options)
            try SafeTensors(tensors: grads).write(to: dumpGradients)
            progress.line("\(grads.count) gradients written to \(dumpGradients)")
            return
        }
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
                                             lora: try loraFlags.config(), loraInit: loraInit, baseName: model, log: { progress.line($0) })
        let c = trainer.model.config
        progress.line("\(resume ? "resuming at step \(trainer.step)" : "fine-tuning"): \(c.architecture.rawValue) \(c.layers)×\(c.width), "
                      + "\(c.parameterCount) parameters, \(Parallel.threads) threads")
        let summary = try trainer.run()
        if summary.alreadyComplete { return }
        try exitIfInterrupted(summary, trainer, progress)
        progress.line(loraFlags.rank == nil && loraFlags.initial == nil ? "model: \(trainer.modelDir)" : "adapter: \(runDir)/adapter (PEFT layout; forge lora merge folds it in)")
    }
}

/// LoRA: rank, scale, dropout, target modules.
struct LoRAFlags: ParsableArguments {
    @Option(name: .customLong("lora-rank"), help: "Train LoRA adapters of this rank instead of the whole model.") var rank: Int?
    @Option(name: .customLong("lora-alpha"), help: "LoRA α (the adapter is scaled by α / rank; default: 2 × rank).") var alpha: Double?
    @Option(name: .customLong("lora-dropout"), help: "Dropout on the adapters' input.") var dropout = 0.0
    @Option(name: .customLong("lora-targets"), help: "Projections to adapt: q,k,v,o,gate,up,down or module names.")
    var targets = "q,k,v,o,gate,up,down"
    @Option(name: .customLong("lora-init"), help: "Start from this LoRA adapter dir (its rank, α and targets) instead of fresh adapters.")
    var initial: String?

    func config() throws -> LoRAConfig? {
        guard let rank else { return nil }
        return try LoRAConfig(rank: rank, alpha: alpha ?? Double(2 * rank), dropout: dropout,
                              targets: targets.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
    }
}
