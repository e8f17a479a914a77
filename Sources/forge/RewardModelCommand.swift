// forge rm: train a reward model (a scalar head on the language model) on preference pairs.
import ArgumentParser
import ForgeAlign
import ForgeCore
import ForgeModels
import ForgeTrain
import Foundation

struct RewardModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Train a reward model on preference pairs (Bradley–Terry loss), reporting held-out accuracy.",
        discussion: """
        A score head reads the last token's hidden state; the model dir written is Hugging Face's \
        <Family>ForSequenceClassification layout (score.weight, num_labels 1). Pairs as for `forge dpo`.

        Example:
          forge rm --model SmolLM2-135M-Instruct.Q4_1.gguf --pairs pairs/train.jsonl --run runs/rm --steps 200
        """)

    @Option(help: "The model to start from: a .gguf file or a model dir.") var model: String
    @Option(parsing: .upToNextOption, help: "Preference pair files (JSONL).") var pairs: [String]
    @Option(name: .customLong("run"), help: "Run directory.") var runDir: String
    @Flag(help: "Continue from RUN/checkpoint.safetensors.") var resume = false
    @Option(help: "Share of pairs held out for validation and accuracy.") var valFraction = 0.1
    @Option(help: "Pairs longer than --seq: error, truncate or skip.") var overLong: OverLong = .error
    @Option(help: "Train on at most this many pairs.") var limit: Int?
    @Flag(help: "Take the data in file order every epoch instead of shuffling.") var sequential = false
    @OptionGroup var loraFlags: LoRAFlags
    @OptionGroup var training: TrainingFlags<PreferenceDefaults>
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        var data = PreferenceData(paths: pairs)
        data.validationFraction = valFraction
        data.overLong = overLong
        data.limit = limit
        data.sequential = sequential
        let progress = ProgressLine()
        progress.line("loading \(model)")
        let base = try BaseModel.load(model)
        Interrupt.install()
        let (trainer, heldOut) = try RewardModel.trainer(base: base, data: data, options: training.options, runDir: runDir, resume: resume,
                                                         lora: try loraFlags.config(), baseName: model, log: { progress.line($0) })
        let before = heldOut.isEmpty || resume ? nil : RewardModel.accuracy(trainer.model, heldOut)
        let summary = try trainer.run()
        if summary.alreadyComplete { return }
        if !heldOut.isEmpty {
            let after = RewardModel.accuracy(trainer.model, heldOut)
            trainer.metrics.append(MetricRecord(kind: "val", step: trainer.step, values: ["accuracy": after]))
            let pairsCount = heldOut.reduce(0) { $0 + $1.pairs }
            progress.line(String(format: "held-out accuracy %.3f on %d pairs%@", after, pairsCount,
                                 before.map { String(format: " (%.3f before training)", $0) } ?? ""))
        }
        if summary.interrupted {
            progress.line("checkpoint saved: \(trainer.checkpointPath) (continue with --resume)")
            throw ExitCode(130)
        }
        progress.line(loraFlags.rank == nil ? "reward model: \(trainer.modelDir)" : "adapter and head: \(runDir)/adapter")
    }
}
