// The seams post-training stands on: frozen parameters, the projection door adapters attach to (in training and in
// inference), activation checkpointing, losses as functions, and the trainer over any batch source and objective.
import ForgeAutograd
import ForgeCore
import ForgeInference
import ForgeModels
import ForgeReference
import ForgeTokenizer
import ForgeTrain
import Foundation
import Testing

/// A full-rank additive adapter: y = x·Wᵀ + x·Dᵀ (so the model behaves as if W were W + D).
final class DeltaAdapter: ProjectionAdapter, InferenceAdapter {
    let d: Variable
    init(_ d: Tensor, name: String) { self.d = Variable(d, requiresGrad: true, name: name) }
    var parameters: [Variable] { [d] }
    func delta(_ tape: Tape, _ x: Variable) -> Variable { tape.linear(x, d) }
    func add(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>, ldy: Int) {
        let outF = d.shape[0]
        for r in 0..<rows {
            for o in 0..<outF {
                var s: Float = 0
                for i in 0..<cols { s += x[r * cols + i] * d.value.data[o * cols + i] }
                out[r * ldy + o] += s
            }
        }
    }
}

/// A batch source over one fixed batch (its state is only its RNG).
struct FixedBatches: BatchSource {
    let batch: TokenBatch
    var state = SamplerState(rng: RNG(seed: 1))
    mutating func next() -> TokenBatch { _ = state.rng.next(); return batch }
}

@Suite struct TrainingSeamsTests {
    func batch(_ seed: UInt64, rows: Int = 4, seq: Int = 16) -> TokenBatch {
        var rng = RNG(seed: seed)
        let n = rows * seq
        return TokenBatch(inputs: (0..<n).map { _ in Int32(rng.below(256)) }, targets: (0..<n).map { _ in Int32(rng.below(256)) },
                          batch: rows, seq: seq)
    }

    /// Losses that run the output layer on the target positions alone give the full path's values and gradients.
    @Test func targetRowsLossesEqualTheFullOutputLayer() throws {
        let model = try Transformer(config: tinyLlama, seed: 12)
        let b = batch(5, rows: 2, seq: 12)
        var targets = b.targets
        for i in targets.indices where i % 12 < 5 || i % 7 == 3 { targets[i] = -100 }
        let layout = TokenLayout(batch: 2, seq: 12)
        func run(_ loss: (Tape) -> Variable) -> (Float, [[Float]]) {
            model.parameters.forEach { $0.zeroGrad() }
            let tape = Tape()
            let l = loss(tape)
            let value = l.value.array.reduce(0, +)
            tape.backward(l)
            return (value, model.parameters.map { $0.grad?.array ?? [] })
        }
        let weights = (0..<targets.count).map { Float($0 % 5) - 1.5 }
        let pairs: [((Tape) -> Variable, (Tape) -> Variable)] = [
            ({ t in Losses.crossEntropy(t, model.logits(t, tokens: b.inputs, layout: layout), targets: targets) },
             { t in model.targetLoss(t, tokens: b.inputs, targets: targets, layout: layout) }),
            ({ t in t.weightedSum(Losses.tokenLogProbabilities(t, model.logits(t, tokens: b.inputs, layout: layout), targets: targets),
                                  Tensor(shape: [targets.count], values: weights)) },
             { t in t.weightedSum(model.targetLogProbabilities(t, tokens: b.inputs, targets: targets, layout: layout),
                                  Tensor(shape: [targets.count], values: weights)) }),
        ]
        for (full, picked) in pairs {
            let (a, ga) = run(full), (c, gc) = run(picked)
            #expect(abs(a - c) <= 1e-5 * max(1, abs(a)), "loss \(a) vs \(c)")
            for (x, y) in zip(ga, gc) {
                #expect(x.count == y.count)
                let worst = zip(x, y).map { abs($0 - $1) }.max() ?? 0
                #expect(worst <= 1e-5, "gradient differs by \(worst)")
            }
        }
    }

    /// Frozen parameters get no gradient and keep their values bit for bit; the others train; the run resumes.
    @Test(arguments: [tinyLlama, tinyGemma])
    func frozenParametersKeepTheirValues(config: TransformerConfig) throws {
        let dir = temporaryDirectory("frozen")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try Transformer(config: config, seed: 4)
        model.setTrainable(false) { !$0.contains("layers.1.") }
        let before = model.parameters.map(\.value.array)
        var options = tinyOptions(steps: 6)
        options.checkpointEvery = 3
        let trainer = try Trainer(model: model, options: options, source: FixedBatches(batch: batch(3)), objective: .nextToken,
                                  validation: [], runDir: dir, tokenizer: ByteTokenizer())
        trainer.progress = nil
        _ = try trainer.run(stopAt: 3)
        _ = try trainer.run()
        for (p, old) in zip(model.parameters, before) {
            if p.name.contains("layers.1.") { #expect(p.value.array != old, "\(p.name) should have trained") }
            else { #expect(p.value.array == old, "\(p.name) is frozen but changed") }
        }
        #expect(trainer.optimizer.parameters.count == model.parameters.filter { $0.name.contains("layers.1.") }.count)
        // Everything frozen is refused with a clear error.
        model.freezeAll()
        #expect(throws: ForgeError("every parameter is frozen: nothing to train")) {
            try Trainer(model: model, options: options, source: FixedBatches(batch: batch(3)), objective: .nextToken,
                        validation: [], runDir: dir + "/b", tokenizer: ByteTokenizer())
        }
    }

    /// An adapter attached to q_proj adds to that projection in training and in inference: the model behaves exactly as
    /// one whose q_proj is W + D; trained alone (the model frozen), D gets the gradient W would get.
    @Test func adaptersAttachToProjectionsInTrainingAndInference() throws {
        let name = "model.layers.1.self_attn.q_proj.weight"
        let model = try Transformer(config: tinyLlama, seed: 6)
        var rng = RNG(seed: 7)
        let d = randomTensor(model.parameter(name).shape, &rng, scale: 0.05)
        let adapter = DeltaAdapter(d, name: "delta")
        model.adapters[name] = adapter
        // The same model with W + D merged.
        var merged = model.weights.mapValues { t in Tensor(shape: t.shape, values: t.array) }
        for i in 0..<d.count { merged[name]!.data[i] += d.data[i] }
        let plain = try Transformer(config: tinyLlama, weights: merged)
        let b = batch(8)
        let a = model.logits(Tape(recording: false), tokens: b.inputs, batch: b.batch, seq: b.seq).value.array
        let m = plain.logits(Tape(recording: false), tokens: b.inputs, batch: b.batch, seq: b.seq).value.array
        #expect(relativeError(a.map(Double.init), m.map(Double.init)) < 1e-5)

        model.freezeAll()
        #expect(model.trainableParameters.map(\.name) == ["delta"])
        let t1 = Tape()
        t1.backward(model.loss(t1, tokens: b.inputs, targets: b.targets, batch: b.batch, seq: b.seq))
        let t2 = Tape()
        t2.backward(plain.loss(t2, tokens: b.inputs, targets: b.targets, batch: b.batch, seq: b.seq))
        #expect(relativeError(doubles(adapter.d.grad!), doubles(plain.parameter(name).grad!)) < 1e-4)
        #expect(model.parameter(name).grad == nil, "a frozen weight gets no gradient")

        // Inference: the adapter applied without merging gives the merged model's logits.
        let engine = try InferenceModel(model)
        engine.adapters[name] = adapter
        let ids = Array(b.inputs.prefix(12))
        let withAdapter = try InferenceSession(model: engine, cacheType: .f32).forward(ids, logits: .all)
        let reference = try InferenceSession(model: try InferenceModel(plain), cacheType: .f32).forward(ids, logits: .all)
        #expect(relativeError(withAdapter.map(Double.init), reference.map(Double.init)) < 1e-5)
    }

    /// Checkpointing recomputes each block in the backward pass: the same gradients, less memory held at the peak.
    /// (The peak counts only this thread's buffers: the pool is shared by the tests that run beside it.)
    @Test(.serialized, arguments: [tinyGPT, tinyLlama, tinyGemma])
    func activationCheckpointingGivesTheSameGradientsInLessMemory(config: TransformerConfig) throws {
        var c = config
        c.layers = 4
        c.contextLength = 64
        let model = try Transformer(config: c, seed: 9)
        let b = batch(10, rows: 8, seq: 64)
        func gradients() -> (grads: [[Float]], peak: Int) {
            for p in model.parameters { p.zeroGrad() }
            let peak = BufferPool.shared.measuringPeak {
                let tape = Tape()
                tape.backward(model.loss(tape, tokens: b.inputs, targets: b.targets, batch: b.batch, seq: b.seq))
            }.peakBytes
            return (model.parameters.map { $0.grad!.array }, peak)
        }
        model.checkpointing = false
        let full = gradients()
        model.checkpointing = true
        let recomputed = gradients()
        for (p, (g1, g2)) in zip(model.parameters, zip(full.grads, recomputed.grads)) {
            #expect(relativeError(g2.map(Double.init), g1.map(Double.init)) < 1e-6, "\(c.architecture) \(p.name)")
        }
        let activations = c.layers * b.batch * b.seq * c.width * 4  // bytes of one activation per block
        #expect(full.peak > 4 * activations, "the meter counts the tape's activations: \(full.peak) bytes")
        #expect(Double(recomputed.peak) < 0.7 * Double(full.peak),
                "\(c.architecture): peak \(recomputed.peak) bytes with checkpointing, \(full.peak) without")
    }

    /// Token log-probabilities and their per-sequence sums, forward and gradient, against Float64 and finite differences.
    @Test func sequenceLogProbabilitiesMatchTheReference() {
        var rng = RNG(seed: 11)
        let targets: [Int32] = [3, -1, 0, 36, 5, 7]
        func ref(_ x: [Double]) -> [Double] {
            (0..<6).map { r -> Double in
                guard targets[r] >= 0 else { return 0 }
                let row = Array(x[(r * 37)..<((r + 1) * 37)]), m = row.max()!
                return row[Int(targets[r])] - m - log(row.map { exp($0 - m) }.reduce(0, +))
            }
        }
        checkOp("tokenLogProbabilities", inputs: [randomTensor([6, 37], &rng)],
                fast: { t, v in Losses.tokenLogProbabilities(t, v[0], targets: targets) }, reference: { ref($0[0]) })
        checkOp("sequenceLogProbabilities", inputs: [randomTensor([6, 37], &rng)],
                fast: { t, v in Losses.sequenceLogProbabilities(t, v[0], targets: targets, sequences: 2) },
                reference: { r in let l = ref(r[0]); return [l[0] + l[1] + l[2], l[3] + l[4] + l[5]] })
    }

    /// The trainer takes any objective: a masked next-token loss (only the second half of each row counts) trains.
    @Test func trainerTakesACustomObjective() throws {
        let dir = temporaryDirectory("objective")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let masked = Objective<TokenBatch>(name: "masked", loss: { tape, model, b in
            var targets = b.targets
            for r in 0..<b.batch { for t in 0..<(b.seq / 2) { targets[r * b.seq + t] = -1 } }
            return Losses.crossEntropy(tape, model.logits(tape, tokens: b.inputs, batch: b.batch, seq: b.seq), targets: targets)
        }, tokens: { $0.batch * $0.seq / 2 })
        var options = tinyOptions(steps: 30)
        options.learningRate = 1e-2
        options.evalEvery = 0
        let fixed = batch(12)
        let trainer = try Trainer(model: try Transformer(config: tinyLlama, seed: 2), options: options,
                                  source: FixedBatches(batch: fixed), objective: masked, validation: [fixed], runDir: dir,
                                  tokenizer: ByteTokenizer())
        trainer.progress = nil
        let first = trainer.evaluate()!
        let summary = try trainer.run()
        #expect(summary.finalValLoss! < 0.5 * first, "masked loss \(first) → \(summary.finalValLoss!)")
        #expect(trainer.tokensSeen == 30 * 2 * 32)
    }

    /// Resuming a run that already finished says so instead of printing a loss of nan at 0 tokens/s.
    @Test func resumingAFinishedRunSaysItIsComplete() throws {
        let dir = temporaryDirectory("finished")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (train, val) = try writeToyShards(dir)
        let args = ["pretrain", "--train", train, "--val", val, "--run", dir + "/run", "--layers", "1", "--width", "16", "--heads", "2",
                    "--seq", "16", "--batch", "2", "--steps", "3", "--warmup", "1", "--eval-every", "0"]
        #expect(try runForge(args).status == 0)
        let again = try runForge(args + ["--resume"])
        #expect(again.status == 0)
        #expect(again.stderr.contains("already complete at step 3 of 3") && !again.stderr.contains("nan"), "\(again.stderr)")
    }
}
