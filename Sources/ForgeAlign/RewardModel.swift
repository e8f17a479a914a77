// RewardModel: a language model with a scalar head ("score.weight", Hugging Face's sequence-classification layout)
// reading the hidden state of each sequence's last token, trained with the Bradley–Terry loss on preference pairs:
// −log σ(r(chosen) − r(rejected)). Accuracy is the share of held-out pairs it ranks the right way.
import ForgeAutograd
import ForgeCore
import ForgeModels
import ForgeTrain

public enum RewardModel {
    /// Adds a score head, N(0, 0.02) as Hugging Face initializes it, unless the model already has one.
    public static func attachHead(_ model: Transformer, seed: UInt64) {
        guard model.heads["score.weight"] == nil else { return }
        var rng = RNG(seed: seed ^ 0x5C0_4E)
        let w = Tensor(shape: [1, model.config.width], zeroed: false)
        for i in 0..<w.count { w.data[i] = Float(0.02 * rng.normal()) }
        model.heads["score.weight"] = Variable(w, requiresGrad: true, name: "score.weight")
    }

    /// The reward of every row of a pair batch (chosen rows, then rejected), [2B, 1].
    public static func rewards(_ tape: Tape, _ model: Transformer, _ b: PairBatch) -> Variable {
        let h = model.hidden(tape, tokens: b.inputs, layout: b.layout)
        let last = b.lengths.enumerated().map { Int32($0.offset * b.layout.seq + $0.element - 1) }
        return tape.linear(tape.embedding(h, ids: last), model.heads["score.weight"]!)
    }

    /// Bradley–Terry loss (the DPO loss with β 1 and no reference); `stats` receives accuracy and margins.
    public static func objective(stats: StepMeans) -> Objective<PairBatch> {
        Objective(name: "Bradley–Terry",
                  loss: { tape, model, b in
                      tape.dpoLoss(rewards(tape, model, b), reference: Array(repeating: 0, count: b.layout.batch), beta: 1,
                                   stats: tape.recording ? stats : nil)
                  },
                  tokens: { $0.pairs }, processed: { $0.tokens })
    }

    /// Share of pairs whose chosen reply gets the higher reward.
    public static func accuracy(_ model: Transformer, _ batches: [PairBatch]) -> Double {
        var right = 0, total = 0
        for b in batches {
            let r = rewards(Tape(recording: false), model, b).value
            for i in 0..<b.pairs { right += r.data[i] > r.data[b.pairs + i] ? 1 : 0; total += 1 }
        }
        return total == 0 ? .nan : Double(right) / Double(total)
    }

    /// A reward-model trainer in `runDir` (the model dir it writes has the score head; LoRA: the adapter, and the head
    /// in RUN/adapter/score.safetensors).
    public static func trainer(base: BaseModel, data: PreferenceData, options: TrainingOptions, runDir: String, resume: Bool,
                               lora: LoRAConfig? = nil, baseName: String = "", log: (String) -> Void = { _ in })
        throws -> (trainer: Trainer<PairBatch>, heldOut: [PairBatch]) {
        let (checkpoint, options) = try PostTraining.resumePoint(runDir: runDir, resume: resume, base: base, options: options)
        let encoder = try base.chatEncoder()
        let (train, validation) = try DPO.examples(data, encoder: encoder)
        var source = try PairBatches(examples: train, batch: options.batch, seq: options.seq, pad: base.padToken, seed: options.seed,
                                     overLong: data.overLong)
        source.shuffle = !data.sequential
        var heldOut: [PairBatch] = []
        if !validation.isEmpty, let val = try? PairBatches(examples: validation, batch: options.batch, seq: options.seq, pad: base.padToken,
                                                            seed: options.seed, overLong: .skip) {
            heldOut = stride(from: 0, to: val.examples.count, by: options.batch).map { val.assemble(Array($0..<min($0 + options.batch, val.examples.count))) }
        }
        log("\(source.examples.count) training pairs, \(validation.count) held out")
        let adapter = try PostTraining.attachLoRA(lora, initial: nil, to: base, seed: options.seed, log: log)
        attachHead(base.transformer, seed: options.seed)
        let stats = StepMeans()
        let trainer = try Trainer(model: base.transformer, options: options, source: source, objective: objective(stats: stats),
                                  validation: Array(heldOut.prefix(options.evalBatches)), runDir: runDir, tokenizer: base.tokenizer,
                                  checkpoint: checkpoint)
        trainer.stepMetrics = {
            let s = stats.take()
            return ["accuracy": s["rewards/accuracies"], "margin": s["rewards/margins"], "reward/chosen": s["rewards/chosen"],
                    "reward/rejected": s["rewards/rejected"]].compactMapValues { $0 }
        }
        trainer.chatTemplate = encoder.template.source
        if let adapter {
            let family = try base.transformer.config.family
            trainer.saveResult = { t in
                try LoRA.save(LoRA.weights(of: t.model, config: adapter), family: family, baseModel: baseName, to: t.runDir + "/adapter")
                try SafeTensors(tensors: [("score.weight", t.model.heads["score.weight"]!.value)]).write(to: t.runDir + "/adapter/score.safetensors")
            }
        }
        return (trainer, heldOut)
    }
}
