// Pruning: smaller models from trained ones.
//
// Unstructured: magnitude pruning zeroes the smallest-|w| fraction of every projection matrix (per matrix, so each
// layer keeps the same density; embeddings, norms and the output matrix are left whole). The zeros make the model
// no smaller on disk until a sparse format exists; they measure what weights the model can lose.
//
// Structured: whole attention heads and FFN channels are removed, giving a model with fewer heads / a narrower FFN
// that every runtime runs faster. Which ones go is decided by first-order Taylor importance (Molchanov et al. 2019;
// LLM-Pruner): the loss change when a group of weights is set to zero is ≈ |Σ w·∂L/∂w| over the group, with the
// gradient averaged over calibration batches of real text. Unlike weight magnitude, it sees what the channel
// contributes to the loss on the user's data (a large weight behind an activation that is always near zero costs
// nothing to remove). The same number of heads per key/value group and channels per layer is removed everywhere, as
// Hugging Face configs hold one head count and one FFN width.
import ForgeAutograd
import ForgeCore
import ForgeModels
import ForgeTrain

/// What a pruning step removed.
public struct PruningSummary: Sendable {
    public var description: String
    /// Zero weights over all prunable matrices.
    public var matrixSparsity: Double
    /// Parameters before and after.
    public var parametersBefore: Int
    public var parametersAfter: Int
}

public enum Pruning {
    /// The projection matrices unstructured pruning applies to (2-D, decayed, not the output matrix).
    public static func prunableMatrices(_ m: Transformer) -> [Variable] {
        zip(m.specs, m.parameters).filter { spec, _ in spec.shape.count == 2 && spec.decays && spec.gguf != "output.weight" }.map(\.1)
    }

    /// The fraction of zeros over the prunable matrices.
    public static func sparsity(_ m: Transformer) -> Double {
        var zeros = 0, total = 0
        for p in prunableMatrices(m) {
            let v = p.value
            for i in 0..<v.count where v.data[i] == 0 { zeros += 1 }
            total += v.count
        }
        return total > 0 ? Double(zeros) / Double(total) : 0
    }

    /// Zeroes the `sparsity` fraction of smallest-magnitude weights in each prunable matrix (ties by position); returns
    /// each matrix's mask of kept weights, for re-applying after recovery steps.
    @discardableResult
    public static func magnitude(_ m: Transformer, sparsity: Double) throws -> [String: [Bool]] {
        guard (0..<1).contains(sparsity) else { throw ForgeError("sparsity must be in [0, 1), got \(sparsity)") }
        var masks: [String: [Bool]] = [:]
        for p in prunableMatrices(m) {
            let v = p.value, n = v.count, k = Int((Double(n) * sparsity).rounded())
            var order = Array(0..<n)
            order.sort { a, b in
                let x = abs(v.data[a]), y = abs(v.data[b])
                return x != y ? x < y : a < b
            }
            var keep = [Bool](repeating: true, count: n)
            for i in order.prefix(k) { keep[i] = false; v.data[i] = 0 }
            masks[p.name] = keep
        }
        return masks
    }

    /// Sets the weights outside `masks` back to zero (after an optimizer step moved them).
    public static func apply(_ masks: [String: [Bool]], to m: Transformer) {
        for p in prunableMatrices(m) {
            guard let keep = masks[p.name] else { continue }
            let v = p.value
            for i in 0..<v.count where !keep[i] { v.data[i] = 0 }
        }
    }

    /// First-order Taylor importance of every parameter's weights: |w·ḡ| with ḡ the loss gradient averaged over
    /// `batches` (next-token cross-entropy). Returned per parameter name, same shapes.
    public static func taylorScores(_ m: Transformer, batches: [TokenBatch]) throws -> [String: Tensor] {
        guard !batches.isEmpty else { throw ForgeError("Taylor importance needs at least one calibration batch") }
        let params = m.parameters
        let wasTrainable = params.map(\.requiresGrad)
        for p in params { p.requiresGrad = true; p.zeroGrad() }
        defer { for (p, t) in zip(params, wasTrainable) { p.requiresGrad = t; p.zeroGrad() } }
        for b in batches {
            let tape = Tape()
            let loss = Losses.crossEntropy(tape, m.logits(tape, tokens: b.inputs, batch: b.batch, seq: b.seq), targets: b.targets)
            tape.backward(loss, seed: 1 / Float(batches.count))
        }
        var out: [String: Tensor] = [:]
        for p in params {
            let s = Tensor(shape: p.shape, zeroed: true)
            if let g = p.grad { for i in 0..<s.count { s.data[i] = p.value.data[i] * g.data[i] } }
            out[p.name] = s
        }
        return out
    }

    /// Per-layer importance of each FFN channel: Σ |w·ḡ| over its row of the gate and up matrices and its column of
    /// the down matrix (and its biases).
    static func ffnChannelScores(_ m: Transformer, _ scores: [String: Tensor], layer l: Int) throws -> [Double] {
        let (gate, up, down, upBias) = try ffnNames(m, layer: l)
        let F = m.config.ffnWidth, C = m.config.width
        var s = [Double](repeating: 0, count: F)
        for name in [gate, up].compactMap({ $0 }) {
            let t = scores[name]!
            for j in 0..<F { var a = 0.0; for c in 0..<C { a += Double(t.data[j * C + c]) }; s[j] += abs(a) }
        }
        let d = scores[down]!
        for j in 0..<F { var a = 0.0; for c in 0..<C { a += Double(d.data[c * F + j]) }; s[j] += abs(a) }
        if let upBias, let b = scores[upBias] { for j in 0..<F { s[j] += abs(Double(b.data[j])) } }
        return s
    }

    /// The FFN tensors of layer `l`: (gate [F, C] or nil, up [F, C], down [C, F], up bias [F] or nil).
    static func ffnNames(_ m: Transformer, layer l: Int) throws -> (String?, String, String, String?) {
        switch m.config.architecture {
        case .llama, .gemma3:
            let p = "model.layers.\(l).mlp."
            return (p + "gate_proj.weight", p + "up_proj.weight", p + "down_proj.weight", nil)
        case .gpt2:
            let p = "h.\(l).mlp."
            return (nil, p + "c_fc.weight", p + "c_proj.weight", p + "c_fc.bias")
        default:
            throw ForgeError("structured pruning does not know the \(m.config.architecture) family's tensors")
        }
    }

    /// A copy of `m` keeping `keep` FFN channels per layer: those with the highest importance in `scores`.
    public static func pruneFFN(_ m: Transformer, keep: Int, scores: [String: Tensor]) throws -> Transformer {
        let c = m.config
        guard keep >= 1, keep <= c.ffnWidth else { throw ForgeError("--ffn-keep \(keep) is outside 1...\(c.ffnWidth)") }
        var weights = m.weights
        let C = c.width, F = c.ffnWidth
        for l in 0..<c.layers {
            let s = try ffnChannelScores(m, scores, layer: l)
            let kept = Array(0..<F).sorted { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }.prefix(keep).sorted()
            let (gate, up, down, upBias) = try ffnNames(m, layer: l)
            for name in [gate, up].compactMap({ $0 }) { weights[name] = rows(weights[name]!, kept, cols: C) }
            weights[down] = columns(weights[down]!, kept, rows: C, cols: F)
            if let upBias { weights[upBias] = rows(weights[upBias]!, kept, cols: 1) }
        }
        var nc = c
        nc.ffnWidth = keep
        return try Transformer(config: nc, weights: weights)
    }

    /// A copy of `m` with `remove` query heads fewer in every key/value group of every layer: per layer, the heads
    /// of least importance (Σ |w·ḡ| over the head's query rows and output-projection columns) within each group.
    public static func pruneHeads(_ m: Transformer, removePerGroup remove: Int, scores: [String: Tensor]) throws -> Transformer {
        let c = m.config
        guard c.architecture == .llama || c.architecture == .gemma3 else {
            throw ForgeError("head pruning needs separate Q/K/V projections (llama, gemma3); \(c.architecture) fuses them")
        }
        let group = c.heads / c.kvHeads
        guard remove >= 1, remove < group else {
            throw ForgeError("--heads-remove \(remove): each of the \(c.kvHeads) key/value groups has \(group) query heads; 1...\(group - 1) can go")
        }
        var weights = m.weights
        let C = c.width, D = c.headDim
        for l in 0..<c.layers {
            let p = "model.layers.\(l).self_attn."
            let q = scores[p + "q_proj.weight"]!, o = scores[p + "o_proj.weight"]!
            var headScore = [Double](repeating: 0, count: c.heads)
            for h in 0..<c.heads {
                var a = 0.0
                for r in (h * D)..<((h + 1) * D) { for col in 0..<C { a += Double(q.data[r * C + col]) } }
                for row in 0..<C { for col in (h * D)..<((h + 1) * D) { a += Double(o.data[row * c.qWidth + col]) } }
                headScore[h] = abs(a)
            }
            var keptHeads: [Int] = []
            for g in 0..<c.kvHeads {
                let members = Array((g * group)..<((g + 1) * group))
                let kept = members.sorted { headScore[$0] != headScore[$1] ? headScore[$0] > headScore[$1] : $0 < $1 }
                    .prefix(group - remove).sorted()
                keptHeads += kept
            }
            let rowsKept = keptHeads.flatMap { h in (h * D)..<((h + 1) * D) }
            weights[p + "q_proj.weight"] = rows(weights[p + "q_proj.weight"]!, rowsKept, cols: C)
            weights[p + "o_proj.weight"] = columns(weights[p + "o_proj.weight"]!, rowsKept, rows: C, cols: c.qWidth)
        }
        var nc = c
        nc.heads = c.kvHeads * (group - remove)
        return try Transformer(config: nc, weights: weights)
    }

    static func rows(_ t: Tensor, _ keep: [Int], cols: Int) -> Tensor {
        let out = Tensor(shape: cols == 1 ? [keep.count] : [keep.count, cols], zeroed: false)
        for (i, r) in keep.enumerated() { (out.data + i * cols).update(from: t.data + r * cols, count: cols) }
        return out
    }

    static func columns(_ t: Tensor, _ keep: [Int], rows: Int, cols: Int) -> Tensor {
        let out = Tensor(shape: [rows, keep.count], zeroed: false)
        for r in 0..<rows { for (i, c) in keep.enumerated() { out.data[r * keep.count + i] = t.data[r * cols + c] } }
        return out
    }
}
