// Training behaviour: a tiny model overfits one batch, the optimizer and schedules match their
// formulas, a stopped and resumed run equals an uninterrupted one bit for bit, and checkpoints
// and model dirs round-trip exactly.
import ForgeAutograd
import ForgeCore
import ForgeModels
import ForgeTokenizer
import ForgeTrain
import Foundation
import Testing

func temporaryDirectory(_ tag: String) -> String {
    let dir = NSTemporaryDirectory() + "forge-test-\(tag)-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Token shards with learnable structure (a noisy repeating pattern) for tiny training runs.
/// Ids are printable ASCII bytes (32..<96), so the byte tokenizer stored with the model fits.
func writeToyShards(_ dir: String, vocab: Int = 256, count: Int = 4000) throws -> (train: String, val: String) {
    var rng = RNG(seed: 99)
    func tokens(_ n: Int) -> [Int32] {
        (0..<n).map { i in 32 + (rng.uniform() < 0.1 ? Int32(rng.below(64)) : Int32((i * 7 + i / 13) % 64)) }
    }
    try TokenShard.write(tokens(count), vocabSize: vocab, to: dir + "/train.bin")
    try TokenShard.write(tokens(count / 4), vocabSize: vocab, to: dir + "/val.bin")
    return (dir + "/train.bin", dir + "/val.bin")
}

func tinyOptions(steps: Int) -> TrainingOptions {
    var o = TrainingOptions()
    o.batch = 4; o.seq = 16; o.steps = steps; o.learningRate = 3e-3; o.warmupSteps = 3
    o.evalEvery = 4; o.evalBatches = 2; o.checkpointEvery = 5; o.gradAccumulation = 2
    return o
}

let tinyGPT = TransformerConfig(architecture: .gpt2, vocabSize: 256, contextLength: 16, width: 32, layers: 2, heads: 4)
let tinyLlama = TransformerConfig(architecture: .llama, vocabSize: 256, contextLength: 16, width: 32, layers: 2, heads: 4,
                                  kvHeads: 2, tiedEmbeddings: false)
let tinyGemma = TransformerConfig(architecture: .gemma3, vocabSize: 256, contextLength: 32, width: 32, layers: 3, heads: 2,
                                  kvHeads: 1, headDim: 16, ffnWidth: 48, ropeTheta: 10000, ropeLocalTheta: 100,
                                  slidingWindow: 6, slidingWindowPattern: 3)

@Suite struct TrainingTests {
    @Test(arguments: [tinyGPT, tinyLlama, tinyGemma])
    func overfitsOneBatch(config: TransformerConfig) throws {
        let model = try Transformer(config: config, seed: 1)
        let opt = AdamW(groups: model.parameterGroups(weightDecay: 0))
        var rng = RNG(seed: 2)
        let tokens = (0..<32).map { _ in Int32(rng.below(32)) }
        let targets = (0..<32).map { _ in Int32(rng.below(32)) }
        var loss: Float = .infinity
        for _ in 0..<300 {
            let tape = Tape()
            let l = model.loss(tape, tokens: tokens, targets: targets, batch: 2, seq: 16)
            tape.backward(l)
            opt.update(lr: 1e-2, clipNorm: 1)
            loss = l.value.data[0]
            if loss < 0.05 { break }
        }
        #expect(loss < 0.1, "\(config.architecture) final loss \(loss)")
    }

    @Test func adamWMatchesPyTorchFormula() {
        // One parameter group with decay, three steps, against torch.optim.AdamW's update written in Float64.
        let p = Variable(Tensor(shape: [5], values: [0.5, -1, 2, 0.1, -0.3]), requiresGrad: true, name: "p")
        let opt = AdamW(groups: [ParameterGroup(name: "decay", parameters: [p], weightDecay: 0.1)], beta1: 0.9, beta2: 0.99, eps: 1e-8)
        var ref = p.value.array.map(Double.init)
        var m = [Double](repeating: 0, count: 5), v = m
        let grads: [[Float]] = [[0.1, -0.2, 0.3, 0, 1], [0.5, 0.5, -0.5, 0.2, -1], [-0.1, 0.05, 0.2, 0.3, 0.4]]
        for (t, g) in grads.enumerated() {
            p.accumulateGrad(Tensor(shape: [5], values: g))
            opt.update(lr: 0.01, clipNorm: nil)
            for i in 0..<5 {
                let gi = Double(g[i])
                ref[i] *= 1 - 0.01 * 0.1
                m[i] = 0.9 * m[i] + 0.1 * gi
                v[i] = 0.99 * v[i] + 0.01 * gi * gi
                let mh = m[i] / (1 - pow(0.9, Double(t + 1))), vh = v[i] / (1 - pow(0.99, Double(t + 1)))
                ref[i] -= 0.01 * mh / (vh.squareRoot() + 1e-8)
            }
        }
        #expect(relativeError(doubles(p.value), ref) < 1e-6)
    }

    @Test func gradientClippingScalesToTheNorm() {
        let a = Variable(Tensor(shape: [2], values: [0, 0]), requiresGrad: true, name: "a")
        let opt = AdamW(groups: [ParameterGroup(name: "g", parameters: [a], weightDecay: 0)], beta1: 0, beta2: 0, eps: 0)
        a.accumulateGrad(Tensor(shape: [2], values: [3, 4]))
        #expect(abs(opt.gradientNorm() - 5) < 1e-9)
        // With beta1 = beta2 = 0 and eps 0 the step is lr·sign(g) whatever the scale, so check the reported norm
        // and that clipping does not change a direction.
        let norm = opt.update(lr: 0.1, clipNorm: 1)
        #expect(abs(norm - 5) < 1e-9)
        #expect(abs(a.value.data[0] + 0.1) < 1e-6 && abs(a.value.data[1] + 0.1) < 1e-6)
    }

    @Test func schedules() {
        let cos = LRSchedule(peak: 1, warmupSteps: 10, totalSteps: 110, decay: .cosine, minFraction: 0.1)
        #expect(abs(cos.rate(at: 0) - 0.1) < 1e-12)
        #expect(abs(cos.rate(at: 9) - 1) < 1e-12)
        #expect(abs(cos.rate(at: 60) - 0.55) < 1e-12)   // halfway: floor + (peak − floor)/2
        #expect(abs(cos.rate(at: 110) - 0.1) < 1e-12)
        let lin = LRSchedule(peak: 2, warmupSteps: 0, totalSteps: 100, decay: .linear, minFraction: 0)
        #expect(abs(lin.rate(at: 25) - 1.5) < 1e-12)
        #expect(LRSchedule(peak: 3, warmupSteps: 2, totalSteps: 10, decay: .constant).rate(at: 7) == 3)
    }

    @Test(arguments: [tinyGPT, tinyLlama])
    func resumedRunEqualsUninterruptedRun(config: TransformerConfig) throws {
        let dir = temporaryDirectory("resume")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (trainPath, valPath) = try writeToyShards(dir)
        let train = try TokenDataset(paths: [trainPath]), val = try TokenDataset(paths: [valPath])
        let options = tinyOptions(steps: 12)

        let straight = try Trainer(config: config, options: options, train: train, validation: val,
                                   runDir: dir + "/a", tokenizer: ByteTokenizer(), resume: false)
        straight.progress = nil
        _ = try straight.run()

        let first = try Trainer(config: config, options: options, train: train, validation: val,
                                runDir: dir + "/b", tokenizer: ByteTokenizer(), resume: false)
        first.progress = nil
        let stopped = try first.run(stopAt: 7)
        #expect(stopped.interrupted && stopped.steps == 7)
        let second = try Trainer(config: config, options: options, train: train, validation: val,
                                 runDir: dir + "/b", tokenizer: ByteTokenizer(), resume: true)
        second.progress = nil
        #expect(second.step == 7)
        _ = try second.run()

        let a = straight.metrics.records, b = second.metrics.records
        #expect(a.count == b.count)
        for (x, y) in zip(a, b) {
            #expect(x.kind == y.kind && x.step == y.step)
            #expect(x.values["loss"] == y.values["loss"], "train loss differs at step \(x.step)")
            #expect(x.values["val_loss"] == y.values["val_loss"], "val loss differs at step \(x.step)")
            #expect(x.values["grad_norm"] == y.values["grad_norm"])
        }
        for (p, q) in zip(straight.model.parameters, second.model.parameters) {
            #expect(p.value.array == q.value.array, "\(p.name) differs after resume")
        }
    }

    @Test func checkpointRoundTrip() throws {
        let dir = temporaryDirectory("ckpt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try Transformer(config: tinyLlama, seed: 5)
        let opt = AdamW(groups: model.parameterGroups(weightDecay: 0.1))
        let tape = Tape()
        tape.backward(model.loss(tape, tokens: Array(repeating: 3, count: 16), targets: Array(repeating: 4, count: 16), batch: 1, seq: 16))
        opt.update(lr: 1e-3, clipNorm: 1)
        var rng = RNG(seed: 8)
        _ = rng.next()
        let state = CheckpointState(step: 1, optimizerStep: 1, sampler: SamplerState(rng: rng), tokensSeen: 16, config: tinyLlama, options: tinyOptions(steps: 3))
        try Checkpoint.save(model: model, optimizer: opt, state: state, to: dir + "/c.safetensors")
        let c = try Checkpoint.load(from: dir + "/c.safetensors")
        let (loaded, weights, moments) = (c.state, c.weights, c.moments)
        #expect(loaded == state)
        for p in model.parameters {
            #expect(weights[p.name]!.array == p.value.array)
            #expect(moments[p.name]!.m.array == opt.moments[p.name]!.m.array)
            #expect(moments[p.name]!.v.array == opt.moments[p.name]!.v.array)
        }
    }

    @Test(arguments: [tinyGPT, tinyLlama])
    func modelDirRoundTrip(config: TransformerConfig) throws {
        let dir = temporaryDirectory("modeldir")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try Transformer(config: config, seed: 6)
        perturbAll(model, seed: 7)
        try ModelDir.save(model, tokenizer: ByteTokenizer(), to: dir)
        let loaded = try ModelDir.loadModel(from: dir)
        #expect(loaded.config == model.config)
        for (p, q) in zip(model.parameters, loaded.parameters) {
            #expect(p.name == q.name && p.value.shape == q.value.shape && p.value.array == q.value.array)
        }
        let tokens: [Int32] = [1, 5, 9, 2, 31, 0, 7, 7]
        let a = model.logits(Tape(recording: false), tokens: tokens, batch: 1, seq: 8).value.array
        let b = loaded.logits(Tape(recording: false), tokens: tokens, batch: 1, seq: 8).value.array
        #expect(a == b)
        #expect(try ModelDir.loadTokenizer(from: dir).encode("hé") == [104, 195, 169])
    }

    @Test func divergedModelNeverOverwritesAGoodCheckpoint() throws {
        let dir = temporaryDirectory("diverged")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try Transformer(config: tinyGPT, seed: 1)
        let opt = AdamW(groups: model.parameterGroups(weightDecay: 0))
        let state = CheckpointState(step: 1, optimizerStep: 0, sampler: SamplerState(rng: RNG(seed: 1)), tokensSeen: 0, config: tinyGPT, options: tinyOptions(steps: 2))
        let path = dir + "/checkpoint.safetensors"
        try Checkpoint.save(model: model, optimizer: opt, state: state, to: path)
        let before = FileManager.default.contents(atPath: path)
        model.parameters[3].value.data[0] = .nan
        #expect(throws: ForgeError.self) { try Checkpoint.save(model: model, optimizer: opt, state: state, to: path) }
        #expect(FileManager.default.contents(atPath: path) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["checkpoint.safetensors"])
    }
}
