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
    @Option(name: .customLong("run"), help: "Run directory.") var runDir: String
    @Flag(help: "Continue from RUN/checkpoint.safetensors.") var resume = false
    @OptionGroup var pairData: PairDataFlags<RewardPairDefaults>
    @OptionGroup var loraFlags: LoRAFlags
    @OptionGroup var training: TrainingFlags<PreferenceDefaults>
    @OptionGroup var threads: ThreadOptions
    @Option(help: "Write the trainable parameters' gradients on the first batch (safetensors) and exit.")
    var dumpGradients: String?

    func run() throws {
        try threads.apply()
        let data = pairData.data
        let progress = ProgressLine()
        progress.line("loading \(model)")
        let base = try BaseModel.load(model)
        Interrupt.install()
        let (trainer, heldOut) = try RewardModel.trainer(base: base, data: data, options: training.options, runDir: runDir, resume: resume,
                                                         lora: try loraFlags.config(), baseName: model, log: { progress.line($0) })
        if let dumpGradients {
            let grads = trainer.firstGradients()
            try SafeTensors(tensors: grads).write(to: dumpGradients)
            progress.line("\(grads.count) gradients written to \(dumpGradients)")
            return
        }
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
        try exitIfInterrupted(summary, trainer, progress)
        progress.line(loraFlags.rank == nil ? "reward model: \(trainer.modelDir)" : "adapter and head: \(runDir)/adapter")
    }
}

enum RewardPairDefaults: PairDataDefaults { static let validationFraction = 0.1 }
