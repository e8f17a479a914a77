// ClassifierTraining: the classifier trained on the Trainer: batches of labelled texts (right-padded, the score read at
// each text's last token), the binary cross-entropy −[y log σ(s) + (1 − y) log σ(−s)] with the classes weighted to
// count equally, then the threshold calibrated on the validation split (the one that maximizes F1 there).
import ForgeAlign
import ForgeAutograd
import ForgeCore
import ForgeModels
import ForgeTrain
import Foundation

/// A batch of labelled token rows.
public struct ClassifierBatch {
    public var rows: [[Int32]]
    public var labels: [Int]
    public var tokens: Int { rows.reduce(0) { $0 + $1.count } }
}

/// Labelled texts in random order, epoch after epoch (position and stream saved in checkpoints).
public struct ClassifierBatches: BatchSource {
    public let examples: [(tokens: [Int32], label: Int)]
    public let batch: Int
    public var state: SamplerState
    let seed: UInt64

    public init(examples: [(tokens: [Int32], label: Int)], batch: Int, seed: UInt64) throws {
        guard !examples.isEmpty else { throw ForgeError("no training texts") }
        (self.examples, self.batch, self.seed) = (examples, batch, seed)
        state = SamplerState(rng: RNG(seed: seed))
    }

    public mutating func next() -> ClassifierBatch {
        var order: (epoch: Int, idx: [Int]) = (-1, [])
        var b = ClassifierBatch(rows: [], labels: [])
        for _ in 0..<batch {
            let epoch = state.position / examples.count
            if order.epoch != epoch {
                var idx = Array(examples.indices), rng = RNG(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
                for i in stride(from: idx.count - 1, to: 0, by: -1) { idx.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
                order = (epoch, idx)
            }
            let e = examples[order.idx[state.position % examples.count]]
            b.rows.append(e.tokens)
            b.labels.append(e.label)
            state.position += 1
        }
        return b
    }
}

/// Precision, recall and F1 of binary predictions.
public struct BinaryScores: Codable, Sendable, Equatable {
    public var precision: Double, recall: Double, f1: Double, accuracy: Double
    public var truePositives: Int, falsePositives: Int, falseNegatives: Int, trueNegatives: Int

    public init(predicted: [Bool], labels: [Int]) {
        var tp = 0, fp = 0, fn = 0, tn = 0
        for (p, y) in zip(predicted, labels) {
            switch (p, y == 1) {
            case (true, true): tp += 1
            case (true, false): fp += 1
            case (false, true): fn += 1
            case (false, false): tn += 1
            }
        }
        (truePositives, falsePositives, falseNegatives, trueNegatives) = (tp, fp, fn, tn)
        precision = tp + fp == 0 ? 0 : Double(tp) / Double(tp + fp)
        recall = tp + fn == 0 ? 0 : Double(tp) / Double(tp + fn)
        f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
        accuracy = labels.isEmpty ? 0 : Double(tp + tn) / Double(labels.count)
    }

    /// The threshold on `probabilities` that maximizes F1 (the midpoint between neighbouring scores).
    public static func bestThreshold(_ probabilities: [Double], labels: [Int]) -> Double {
        let sorted = Array(Set(probabilities)).sorted()
        guard sorted.count > 1 else { return 0.5 }
        var best = (f1: -1.0, t: 0.5)
        for i in 0..<(sorted.count - 1) {
            let t = (sorted[i] + sorted[i + 1]) / 2
            let f = BinaryScores(predicted: probabilities.map { $0 >= t }, labels: labels).f1
            if f > best.f1 { best = (f, t) }
        }
        return best.t
    }
}

public enum ClassifierTraining {
    /// Defaults: AdamW 5e-5 with warmup and cosine decay, batches of 32 texts.
    public static var defaultOptions: TrainingOptions {
        var o = TrainingOptions()
        o.batch = 32; o.seq = 64; o.steps = 600; o.learningRate = 5e-5; o.warmupSteps = 30; o.evalEvery = 100; o.evalBatches = 8
        o.checkpointEvery = 100; o.weightDecay = 0.01; o.beta2 = 0.999
        return o
    }

    /// Class-balanced binary cross-entropy on the score at each row's last token.
    public static func objective(positiveWeight: Double, pad: Int32, stats: StepMeans) -> Objective<ClassifierBatch> {
        Objective(name: "binary cross-entropy",
                  loss: { tape, model, b in
                      let s = TextClassifier.scores(tape, model, b.rows, pad: pad)
                      // log σ(±s): the sign picks the label's side; weights average the classes equally.
                      let signs = Tensor(shape: [b.rows.count, 1], values: b.labels.map { $0 == 1 ? 1 : -1 })
                      let z = tape.mul(s, Variable(signs))
                      let w = b.labels.map { Float($0 == 1 ? positiveWeight : 1) }
                      let total = w.reduce(0, +)
                      if tape.recording {
                          var right = 0
                          for (k, y) in b.labels.enumerated() where (s.value.data[k] >= 0) == (y == 1) { right += 1 }
                          stats.add(["accuracy": Double(right) / Double(b.labels.count)])
                      }
                      return tape.weightedSum(tape.logSigmoid(z), Tensor(shape: [b.rows.count, 1], values: w.map { -$0 / total }))
                  },
                  tokens: { $0.rows.count }, processed: { $0.tokens })
    }

    /// Encodes labelled texts into (tokens, label), each cut to `maxTokens` (its first window).
    public static func encode(_ rows: [LabelledText], classifier: TextClassifier) -> [(tokens: [Int32], label: Int)] {
        rows.map { (classifier.windows($0.text)[0], $0.label) }
    }

    /// A trainer for `classifier` on the train split, validated on the validation split.
    public static func trainer(_ classifier: TextClassifier, data: [LabelledText], options: TrainingOptions, runDir: String,
                               resume: Bool, log: (String) -> Void = { _ in }) throws -> Trainer<ClassifierBatch> {
        let (checkpoint, options) = try PostTraining.resumePoint(runDir: runDir, resume: resume, model: classifier.model, options: options)
        classifier.settings.maxTokens = options.seq
        let train = encode(data.filter { $0.split == "train" }, classifier: classifier)
        let validation = encode(data.filter { $0.split == "validation" }, classifier: classifier)
        let positives = train.filter { $0.label == 1 }.count
        guard positives > 0, positives < train.count else { throw ForgeError("the train split needs both labels (\(positives) of \(train.count) positive)") }
        log("\(train.count) training texts (\(positives) positive), \(validation.count) validation")
        let source = try ClassifierBatches(examples: train, batch: options.batch, seed: options.seed)
        let valBatches = stride(from: 0, to: validation.count, by: options.batch).map { s in
            ClassifierBatch(rows: validation[s..<min(s + options.batch, validation.count)].map(\.tokens),
                            labels: validation[s..<min(s + options.batch, validation.count)].map(\.label))
        }
        let stats = StepMeans()
        let trainer = try Trainer(model: classifier.model, options: options, source: source,
                                  objective: objective(positiveWeight: Double(train.count - positives) / Double(positives), pad: classifier.pad, stats: stats),
                                  validation: Array(valBatches.prefix(options.evalBatches)), runDir: runDir, tokenizer: classifier.tokenizer,
                                  checkpoint: checkpoint)
        trainer.stepMetrics = { stats.take() }
        trainer.saveResult = { _ in }
        return trainer
    }
}
