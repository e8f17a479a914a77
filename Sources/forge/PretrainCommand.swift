// forge pretrain: next-token training on token shards into a run dir.
import ArgumentParser
import ForgeCore
import ForgeModels
import ForgeTokenizer
import ForgeTrain
import Foundation

struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Pretrain a decoder (next token) or a BERT encoder (masked tokens) on token shards.",
        discussion: """
        Writes RUN/metrics.jsonl, RUN/checkpoint.safetensors (every --checkpoint-every steps, on Ctrl-C and at the \
        end) and RUN/model/ (Hugging Face layout). --resume continues a stopped run exactly.

        Example (tiny, CPU, a minute):
          forge pretrain --train data/train.bin --val data/val.bin --run runs/tiny \\
            --layers 2 --width 64 --heads 4 --seq 64 --batch 8 --steps 200 --eval-every 50
        """)

    @Option(parsing: .upToNextOption, help: "Training shards (files or directories of .bin).") var train: [String]
    @Option(parsing: .upToNextOption, help: "Validation shards.") var val: [String] = []
    @Option(name: .customLong("run"), help: "Run directory.") var runDir: String
    @Flag(help: "Continue from RUN/checkpoint.safetensors.") var resume = false
    @Option(help: "Tokenizer to store with the model: tokenizer.json, GGUF or model dir (default for vocab 256: bytes).") var tokenizer: String?
    @OptionGroup var model: ModelOptions
    @Option(help: "What to predict: next-token (decoders) or mlm (masked tokens, 15% with BERT's 80/10/10 rule; --arch bert and a tokenizer with [MASK]).")
    var objective: PretrainingObjective = .nextToken
    @OptionGroup var training: TrainingFlags<PretrainDefaults>
    @OptionGroup var threads: ThreadOptions
    @OptionGroup var distributed: DistributedOptions

    func run() throws {
        try threads.apply(distributed: true)
        try distributed.run(explicitThreads: threads.threads != nil) { _ in try runTraining() }
    }

    func runTraining() throws {
        let trainSet = try TokenDataset(paths: train)
        let valSet = val.isEmpty ? nil : try TokenDataset(paths: val)
        let shardVocab = trainSet.shards.map(\.vocabSize).max() ?? 0
        guard shardVocab > 0 || model.vocab != nil else {
            throw ForgeError.file(train[0], "shard header does not give a vocabulary size: pass --vocab")
        }
        let tok: TextTokenizer
        if let tokenizer { tok = try TokenizerLoader.load(tokenizer) }
        else if (model.vocab ?? shardVocab) == 256 { tok = ByteTokenizer() }
        else { throw ValidationError("--tokenizer is required for a vocabulary of \(model.vocab ?? shardVocab) (bytes need none)") }
        let config = try model.config(vocab: shardVocab, seq: training.seq)
        Interrupt.install()
        var options = training.options
        if objective == .mlm {
            options.objective = .mlm
            options.maskTokenId = tok.id(of: "[MASK]") ?? tok.id(of: "<mask>")
        }
        let trainer = try Trainer(config: config, options: options, train: trainSet, validation: valSet,
                                  runDir: runDir, tokenizer: tok, resume: resume)
        // A tokenizer taken from a model (GGUF or model dir) brings its chat template to the model dir written.
        if let tokenizer {
            trainer.chatTemplate = tokenizer.hasSuffix(".gguf") ? try GGUFFile(path: tokenizer)["tokenizer.chat_template"]?.string
                                                                 : ModelDir.chatTemplateSource(tokenizer)
        }
        let c = trainer.model.config
        trainer.progress?.line("\(resume ? "resuming at step \(trainer.step)" : "training"): \(c.architecture.rawValue) \(c.layers)×\(c.width), "
                               + "\(c.parameterCount) parameters, \(trainSet.count) training tokens, \(Parallel.threads) threads")
        let summary = try trainer.run()
        if summary.alreadyComplete { return }
        try exitIfInterrupted(summary, trainer, trainer.progress)
        trainer.progress?.line("model: \(trainer.modelDir)")
    }
}
