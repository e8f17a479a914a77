// MaskedLanguageModel: BERT's pretraining objective on plain token windows. 15% of positions are chosen; of those
// 80% become [MASK], 10% a random token, 10% stay; the loss is the cross-entropy of the originals at the chosen
// positions through the masked-LM head. The choice is drawn from a hash of the window and the run's seed, so a
// batch is masked the same way on every rank and after a resume.
import ForgeAutograd
import ForgeCore
import ForgeModels

/// One masked batch: the corrupted inputs and, per row, the original id where the loss reads it (−1 elsewhere).
public struct MaskedTokens: Equatable, Sendable {
    public var inputs: [Int32]
    public var targets: [Int32]

    /// Masks `tokens` (any length ≥ 1) by the 15% / 80-10-10 rule; at least one position is chosen.
    public init(_ tokens: [Int32], maskId: Int32, vocabSize: Int, seed: UInt64, rate: Double = 0.15) {
        var hash = FNV1a64()
        tokens.withUnsafeBytes { hash.update($0) }
        var rng = RNG(seed: hash.value ^ seed)
        inputs = tokens
        targets = [Int32](repeating: -1, count: tokens.count)
        for i in tokens.indices where rng.uniform() < rate { choose(i, &rng, maskId: maskId, vocabSize: vocabSize, original: tokens[i]) }
        if !tokens.isEmpty, !targets.contains(where: { $0 >= 0 }) {
            let i = rng.below(tokens.count)
            choose(i, &rng, maskId: maskId, vocabSize: vocabSize, original: tokens[i])
        }
    }

    mutating func choose(_ i: Int, _ rng: inout RNG, maskId: Int32, vocabSize: Int, original: Int32) {
        targets[i] = original
        let r = rng.uniform()
        if r < 0.8 { inputs[i] = maskId } else if r < 0.9 { inputs[i] = Int32(rng.below(vocabSize)) }
    }

    /// Positions the loss reads.
    public var count: Int { targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }
}

extension Objective where Batch == TokenBatch {
    /// Masked-token cross-entropy for encoders with a masked-LM head (BERT); the batch's targets are not used.
    public static func maskedTokens(maskId: Int32, vocabSize: Int, seed: UInt64) -> Objective {
        let mask = { (b: TokenBatch) in MaskedTokens(b.inputs, maskId: maskId, vocabSize: vocabSize, seed: seed) }
        return Objective(name: "masked-token cross-entropy",
                         loss: { tape, model, b in
                             let m = mask(b)
                             let rows = Losses.targetRows(m.targets)
                             let h = tape.gatherRows(model.hidden(tape, tokens: m.inputs, layout: TokenLayout(batch: b.batch, seq: b.seq)), rows: rows)
                             return Losses.crossEntropy(tape, BERT.maskedLMLogits(model, tape, h), targets: rows.map { m.targets[$0] })
                         },
                         tokens: { mask($0).count }, processed: { $0.batch * $0.seq })
    }
}
