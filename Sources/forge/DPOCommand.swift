// forge dpo: direct preference optimization on (prompt, chosen, rejected) pairs.
import ArgumentParser
import ForgeAlign
import ForgeCore
import ForgeModels
import ForgeTrain
import Foundation

enum PreferenceDefaults: TrainingDefaults {
    static var options: TrainingOptions {
        var o = FineTuning.defaultOptions
        o.learningRate = 1e-6  // TRL's DPO default
        o.batch = 2
        return o
    }
}

struct DPOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dpo",
        abstract: "Align a model on preference pairs with DPO (sigmoid loss against the frozen starting model).",
        discussion: """
        Pairs are JSONL in TRL's layouts: {"prompt": [messages] | "text", "chosen": [messages] | "text", "rejected": ...}, \
        or chosen/rejected whole conversations sharing their prompt. Replies are scored as TRL scores them (the \
        tokens after the rendered prompt). metrics.jsonl gets TRL's quantities: rewards/chosen, rewards/rejected, \
        rewards/margins, rewards/accuracies, logps/chosen, logps/rejected. With --lora-rank the reference is the \
        base without the adapter. `forge pairs` builds pairs from what installs here.

        Example:
          forge dpo --model runs/sft/model --pairs pairs/train.jsonl --run runs/dpo --beta 0.1 --steps 200
        """)

    @Option(help: "The starting (and reference) model: a .gguf file or a model dir.") var model: String
    @Option(name: .customLong("run"), help: "Run directory.") var runDir: String
    @Option(help: "β: how far from the reference the policy may move (TRL's default 0.1).") var beta: Float = 0.1
    @Option(help: "Weight of an NLL term on the chosen replies' tokens (TRL's rpo_alpha; 0: plain DPO).") var rpoAlpha: Float = 0
    @Flag(help: "Continue from RUN/checkpoint.safetensors.") var resume = false
    @OptionGroup var pairData: PairDataFlags<DPOPairDefaults>
    @OptionGroup var loraFlags: LoRAFlags
    @Flag(help: "With LoRA on a .gguf base: keep the base in its stored type (decoded strip by strip), not in Float32.") var qlora = false
    @OptionGroup var training: TrainingFlags<PreferenceDefaults>
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let data = pairData.data
        let progress = ProgressLine()
        progress.line("loading \(model)")
        if qlora && loraFlags.rank == nil && loraFlags.initial == nil { throw ValidationError("--qlora trains LoRA adapters: give --lora-rank") }
        let base = try BaseModel.load(model, stored: qlora)
        let loraInit = try loraFlags.initial.map { try LoRA.load($0, for: base.transformer.config) }
        Interrupt.install()
        let trainer = try DPO.trainer(base: base, data: data, beta: beta, rpoAlpha: rpoAlpha, options: training.options, runDir: runDir, resume: resume,
                                      lora: try loraFlags.config(), loraInit: loraInit, baseName: model, log: { progress.line($0) })
        let summary = try trainer.run()
        if summary.alreadyComplete { return }
        if let last = trainer.metrics.records.last(where: { $0.kind == "train" }) {
            let keys = ["rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"]
            progress.line(keys.compactMap { k in last.values[k].map { String(format: "%@ %.4f", k, $0) } }.joined(separator: "  "))
        }
        try exitIfInterrupted(summary, trainer, progress)
        progress.line(loraFlags.rank == nil && loraFlags.initial == nil ? "model: \(trainer.modelDir)" : "adapter: \(runDir)/adapter")
    }
}

enum DPOPairDefaults: PairDataDefaults { static let validationFraction = 0.05 }
