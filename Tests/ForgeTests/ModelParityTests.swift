// The fast Float32 transformer against the naive Float64 ReferenceTransformer: logits, loss, and the
// gradient of every parameter tensor (sampled coordinates and random directions, central differences).
import ForgeAutograd
import ForgeCore
import ForgeModels
import ForgeReference
import Testing

func referenceModel(_ model: Transformer) -> ReferenceTransformer {
    let c = model.config
    var rc = RefConfig(llama: c.architecture == .llama, vocab: c.vocabSize, context: c.contextLength, width: c.width,
                       layers: c.layers, heads: c.heads, kvHeads: c.kvHeads, ffn: c.ffnWidth, eps: Double(c.normEps),
                       ropeTheta: c.ropeTheta, tied: c.tiedEmbeddings)
    if c.architecture == .gemma3 {
        rc.gemma = true
        rc.headDim = c.headDim
        rc.window = c.slidingWindow
        rc.pattern = c.slidingWindowPattern ?? (c.layers + 1)
        rc.localTheta = c.ropeLocalTheta ?? c.ropeTheta
        rc.scale = Double(c.scoreScale)
    }
    return ReferenceTransformer(config: rc, weights: model.weights.mapValues(doubles))
}

/// Randomizes every parameter (norm weights near 1, biases non-zero) so no gradient is trivially zero.
func perturbAll(_ model: Transformer, seed: UInt64) {
    var rng = RNG(seed: seed)
    for p in model.parameters {
        let isNorm = p.shape.count == 1 && p.name.hasSuffix(".weight")
        for i in 0..<p.value.count {
            p.value.data[i] = isNorm ? Float(1 + 0.2 * rng.normal()) : Float(0.15 * rng.normal())
        }
    }
}

@Suite struct ModelParityTests {
    static let configs: [TransformerConfig] = [
        TransformerConfig(architecture: .gpt2, vocabSize: 23, contextLength: 12, width: 16, layers: 2, heads: 4),
        TransformerConfig(architecture: .llama, vocabSize: 23, contextLength: 12, width: 16, layers: 2, heads: 4,
                          kvHeads: 2, ffnWidth: 24, tiedEmbeddings: false),
        TransformerConfig(architecture: .llama, vocabSize: 23, contextLength: 12, width: 16, layers: 1, heads: 2,
                          kvHeads: 2, ffnWidth: 20, ropeTheta: 500, tiedEmbeddings: true),
        tinyGemmaParity,
    ]
    /// Gemma 3 with a head size of its own, one key/value head, a window shorter than the sequence in its local
    /// layer (layer 0; layer 1 is global) and a score scale that is not 1/√D.
    static let tinyGemmaParity = TransformerConfig(architecture: .gemma3, vocabSize: 23, contextLength: 12, width: 16, layers: 2, heads: 2,
                                                   kvHeads: 1, headDim: 12, ffnWidth: 20, ropeTheta: 800, ropeLocalTheta: 50,
                                                   slidingWindow: 4, slidingWindowPattern: 2, attentionScale: 0.2)

    @Test(arguments: configs)
    func logitsAndGradientsMatchReference(config: TransformerConfig) throws {
        let model = try Transformer(config: config, seed: 3)
        perturbAll(model, seed: 4)
        var rng = RNG(seed: 5)
        let (batch, seq) = (2, 9)
        let tokens = (0..<(batch * seq)).map { _ in Int32(rng.below(config.vocabSize)) }
        var targets = (0..<(batch * seq)).map { _ in Int32(rng.below(config.vocabSize)) }
        targets[4] = -1

        let tape = Tape()
        let logits = model.logits(tape, tokens: tokens, batch: batch, seq: seq)
        let loss = tape.crossEntropy(logits, targets: targets)
        tape.backward(loss)

        let ref = referenceModel(model)
        let refLogits = ref.logits(tokens: tokens.map(Int.init), batch: batch, seq: seq)
        let logitError = relativeError(doubles(logits.value), refLogits)
        #expect(logitError < 1e-4, "\(config.architecture) logits relative error \(logitError)")
        let refLoss = ref.loss(tokens: tokens.map(Int.init), targets: targets.map(Int.init), batch: batch, seq: seq)
        #expect(abs(Double(loss.value.data[0]) - refLoss) / refLoss < 1e-5)

        func refLossWith(_ name: String, _ values: [Double]) -> Double {
            var r = ref
            r.weights[name] = values
            return r.loss(tokens: tokens.map(Int.init), targets: targets.map(Int.init), batch: batch, seq: seq)
        }
        for p in model.parameters {
            let grad = doubles(p.grad!)
            let x = doubles(p.value)
            // Sampled coordinates.
            let indices = x.count <= 24 ? Array(0..<x.count) : (0..<24).map { _ in rng.below(x.count) }
            let numeric = Ref.numericalGradient(x, indices: indices) { refLossWith(p.name, $0) }
            let err = relativeError(indices.map { grad[$0] }, indices.map { numeric[$0]! })
            #expect(err < 1e-4, "\(config.architecture) \(p.name): sampled gradient relative error \(err)")
            // A random direction through the whole tensor: d/dh L(x + h·u) = g·u.
            let u = (0..<x.count).map { _ in rng.normal() }
            let h = 1e-6
            let slope = (refLossWith(p.name, zip(x, u).map { $0 + h * $1 }) - refLossWith(p.name, zip(x, u).map { $0 - h * $1 })) / (2 * h)
            let dot = zip(grad, u).reduce(0) { $0 + $1.0 * $1.1 }
            #expect(abs(dot - slope) <= 1e-4 * max(abs(slope), 1e-3), "\(config.architecture) \(p.name): directional derivative \(dot) vs \(slope)")
        }
    }
}

extension TransformerConfig: CustomTestStringConvertible {
    public var testDescription: String { "\(architecture.rawValue) \(layers)x\(width) heads \(heads)/\(kvHeads)" }
}
