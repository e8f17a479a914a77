// forge prune: magnitude (unstructured) or head / FFN-channel (structured) pruning, measured on held-out text.
import ArgumentParser
import ForgeCompress
import ForgeCore
import Foundation

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Prune a model dir (magnitude, attention heads or FFN channels) and measure the perplexity it costs.",
        discussion: """
        --sparsity S zeroes the smallest-magnitude fraction S of every projection matrix (repeat or list several \
        values for a curve: --sparsity 0.1,0.3,0.5,0.7). --heads-remove N removes N query heads from every key/value \
        group of every layer; --ffn-keep N keeps N FFN channels per layer; both choose by first-order Taylor \
        importance (|Σ w·∂L/∂w| per head or channel, gradients averaged over calibration batches of the text). \
        The text (--data) is split: the last tenth is held out for perplexity, the rest calibrates and, with \
        --recover-steps, fine-tunes the pruned model (pruned weights kept at zero). RUN holds model/ (the last \
        pruned model), prune.jsonl, prune.svg (perplexity against sparsity) and prune.md.

        Example:
          forge prune --model runs/speedrun/model --data hamlet.txt --sparsity 0.1,0.3,0.5,0.7 --run runs/prune
          forge prune --model smollm2-hf --data hamlet.txt --ffn-keep 1024 --recover-steps 200 --run runs/prune-ffn
        """)

    @Option(help: "The model directory to prune.") var model: String
    @Option(parsing: .upToNextOption, help: "Text files: calibration, recovery and held-out perplexity.") var data: [String]
    @Option(name: .customLong("run"), help: "Run directory for the pruned model and the report.") var runDir: String
    @Option(help: "Magnitude pruning: fractions of each matrix zeroed (comma-separated for a curve).") var sparsity: String?
    @Option(help: "Structured: query heads removed per key/value group.") var headsRemove: Int?
    @Option(help: "Structured: FFN channels kept per layer.") var ffnKeep: Int?
    @Option(help: "Recovery fine-tune steps after pruning (0: none).") var recoverSteps = 0
    @Option(help: "Recovery learning rate.") var lr = 1e-4
    @Option(help: "Tokens per sequence (calibration, recovery, perplexity windows).") var seq = 256
    @Option(help: "Sequences per batch.") var batch = 4
    @Option(help: "Calibration batches for Taylor importance.") var calibrationBatches = 8
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        var methods: [PruningRun.Method] = []
        if let sparsity {
            for part in sparsity.split(separator: ",") {
                guard let s = Double(part.trimmingCharacters(in: .whitespaces)), (0..<1).contains(s) else {
                    throw ValidationError("--sparsity takes fractions in [0, 1), got '\(part)'")
                }
                methods.append(.magnitude(sparsity: s))
            }
        }
        if let headsRemove { methods.append(.heads(removePerGroup: headsRemove)) }
        if let ffnKeep { methods.append(.ffn(keep: ffnKeep)) }
        guard !methods.isEmpty else { throw ValidationError("choose what to prune: --sparsity, --heads-remove or --ffn-keep") }
        var r = PruningRun(modelDir: model, runDir: runDir, files: data)
        r.seq = seq
        r.batch = batch
        r.calibrationBatches = calibrationBatches
        r.recoverSteps = recoverSteps
        r.learningRate = lr
        r.log = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        _ = try r.run(methods)
        print("\(runDir)/model, report: \(runDir)/prune.md, curve: \(runDir)/prune.svg")
    }
}
