// Transformer: a decoder-only language model, GPT-2 or Llama style, on the autograd ops.
//
// Dimensions: B batch, T time (sequence), C width, H heads, G key/value heads, D = C/H head size,
// F MLP width, V vocabulary, N = B·T rows. Activations are N×C matrices, row n = (b, t).
// Parameters carry their Hugging Face names; matrices are stored [out, in] (PyTorch Linear).
// GPT-2's Conv1D weights are transposed only when a model dir is written or read (ModelDir).
import ForgeAutograd
import ForgeCore
import ForgeKernels

/// A decoder-only transformer's parameters and its training forward pass.
public final class Transformer {
    public let config: TransformerConfig
    /// Every parameter, in a fixed order (the order of optimizer state and checkpoints).
    public let parameters: [Variable]
    let byName: [String: Variable]
    let rope: RoPETable?

    // MARK: - Construction

    /// A freshly initialized model: N(0, initStd) matrices and embeddings, residual projections scaled
    /// by 1/√(2·layers) (GPT-2), zero biases, unit norm weights.
    public convenience init(config: TransformerConfig, seed: UInt64) throws {
        try config.validate()
        var rng = RNG(seed: seed)
        var tensors: [(String, Tensor)] = []
        let residualStd = config.initStd / Float(2 * config.layers).squareRoot()
        for (name, shape) in Transformer.parameterShapes(config) {
            let t = Tensor(shape: shape)
            if name.hasSuffix("norm.weight") || name.contains("ln_") {
                if name.hasSuffix(".weight") { t.fill(1) }
            } else if name.hasSuffix(".bias") {
                // zeros
            } else {
                let isResidual = name.hasSuffix("c_proj.weight") || name.hasSuffix("o_proj.weight") || name.hasSuffix("down_proj.weight")
                let std = Double(isResidual ? residualStd : config.initStd)
                for i in 0..<t.count { t.data[i] = Float(rng.normal() * std) }
            }
            tensors.append((name, t))
        }
        try self.init(config: config, weights: Dictionary(uniqueKeysWithValues: tensors))
    }

    /// A model over existing weights (internal [out, in] layout), checked against the config.
    public init(config: TransformerConfig, weights: [String: Tensor]) throws {
        try config.validate()
        self.config = config
        var params: [Variable] = []
        for (name, shape) in Transformer.parameterShapes(config) {
            guard let t = weights[name] else { throw ForgeError("weights lack tensor '\(name)' that the config requires") }
            guard t.shape == shape else {
                throw ForgeError("tensor '\(name)' has shape \(t.shape), the config requires \(shape)")
            }
            params.append(Variable(t, requiresGrad: true, name: name))
        }
        let expected = Set(params.map(\.name))
        if let extra = weights.keys.sorted().first(where: { !expected.contains($0) }) {
            throw ForgeError("weights have tensor '\(extra)' that the config does not use")
        }
        self.parameters = params
        self.byName = Dictionary(uniqueKeysWithValues: params.map { ($0.name, $0) })
        self.rope = config.architecture == .llama
            ? RoPETable(headDim: config.headDim, positions: config.contextLength, theta: config.ropeTheta) : nil
    }

    /// Parameter names and shapes in internal layout, in canonical order.
    public static func parameterShapes(_ c: TransformerConfig) -> [(String, [Int])] {
        let C = c.width, F = c.ffnWidth, V = c.vocabSize, kvW = c.kvHeads * c.headDim
        var out: [(String, [Int])] = []
        switch c.architecture {
        case .gpt2:
            out += [("wte.weight", [V, C]), ("wpe.weight", [c.contextLength, C])]
            for l in 0..<c.layers {
                let p = "h.\(l)."
                out += [(p + "ln_1.weight", [C]), (p + "ln_1.bias", [C]),
                        (p + "attn.c_attn.weight", [3 * C, C]), (p + "attn.c_attn.bias", [3 * C]),
                        (p + "attn.c_proj.weight", [C, C]), (p + "attn.c_proj.bias", [C]),
                        (p + "ln_2.weight", [C]), (p + "ln_2.bias", [C]),
                        (p + "mlp.c_fc.weight", [F, C]), (p + "mlp.c_fc.bias", [F]),
                        (p + "mlp.c_proj.weight", [C, F]), (p + "mlp.c_proj.bias", [C])]
            }
            out += [("ln_f.weight", [C]), ("ln_f.bias", [C])]
        case .llama:
            out.append(("model.embed_tokens.weight", [V, C]))
            for l in 0..<c.layers {
                let p = "model.layers.\(l)."
                out += [(p + "input_layernorm.weight", [C]),
                        (p + "self_attn.q_proj.weight", [C, C]), (p + "self_attn.k_proj.weight", [kvW, C]),
                        (p + "self_attn.v_proj.weight", [kvW, C]), (p + "self_attn.o_proj.weight", [C, C]),
                        (p + "post_attention_layernorm.weight", [C]),
                        (p + "mlp.gate_proj.weight", [F, C]), (p + "mlp.up_proj.weight", [F, C]),
                        (p + "mlp.down_proj.weight", [C, F])]
            }
            out.append(("model.norm.weight", [C]))
        }
        if !c.tiedEmbeddings { out.append(("lm_head.weight", [V, C])) }
        return out
    }

    /// The parameter called `name`.
    public func parameter(_ name: String) -> Variable { byName[name]! }

    /// Weights by name (shared storage, internal layout).
    public var weights: [String: Tensor] { Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.value) }) }

    /// AdamW groups: weight decay on matrices only, none on norms, biases and embeddings.
    public func parameterGroups(weightDecay: Float) -> [ParameterGroup] {
        let isEmbedding: (String) -> Bool = { ["wte.weight", "wpe.weight", "model.embed_tokens.weight"].contains($0) }
        let decay = parameters.filter { $0.shape.count == 2 && !isEmbedding($0.name) }
        let rest = parameters.filter { !($0.shape.count == 2 && !isEmbedding($0.name)) }
        return [ParameterGroup(name: "decay", parameters: decay, weightDecay: weightDecay),
                ParameterGroup(name: "no_decay", parameters: rest, weightDecay: 0)]
    }

    // MARK: - Forward

    /// Logits [B·T, V] for `tokens` laid out as B rows of T (T ≤ contextLength).
    public func logits(_ tape: Tape, tokens: [Int32], batch: Int, seq: Int) -> Variable {
        let x = hidden(tape, tokens: tokens, batch: batch, seq: seq)
        return tape.linear(x, config.tiedEmbeddings ? embeddingTable : parameter("lm_head.weight"))
    }

    /// Mean next-token cross-entropy of the logits against `targets` (negative targets are ignored).
    public func loss(_ tape: Tape, tokens: [Int32], targets: [Int32], batch: Int, seq: Int) -> Variable {
        tape.crossEntropy(logits(tape, tokens: tokens, batch: batch, seq: seq), targets: targets)
    }

    var embeddingTable: Variable {
        parameter(config.architecture == .gpt2 ? "wte.weight" : "model.embed_tokens.weight")
    }

    /// Final hidden states [B·T, C] after the last norm.
    public func hidden(_ tape: Tape, tokens: [Int32], batch: Int, seq: Int) -> Variable {
        precondition(tokens.count == batch * seq, "expected \(batch)×\(seq) tokens, got \(tokens.count)")
        precondition(seq <= config.contextLength, "sequence \(seq) exceeds the context \(config.contextLength)")
        let shape = AttentionShape(batch: batch, seq: seq, heads: config.heads, kvHeads: config.kvHeads, headDim: config.headDim)
        switch config.architecture {
        case .gpt2:
            let positions = (0..<(batch * seq)).map { Int32($0 % seq) }
            var x = tape.add(tape.embedding(parameter("wte.weight"), ids: tokens),
                             tape.embedding(parameter("wpe.weight"), ids: positions))                       // N×C
            for l in 0..<config.layers {
                let p = "h.\(l)."
                let h = tape.layerNorm(x, weight: parameter(p + "ln_1.weight"), bias: parameter(p + "ln_1.bias"), eps: config.normEps)
                let qkv = tape.split(tape.linear(h, parameter(p + "attn.c_attn.weight"), parameter(p + "attn.c_attn.bias")),
                                     [config.width, config.width, config.width])                           // 3 × N×C
                let a = tape.attention(q: qkv[0], k: qkv[1], v: qkv[2], shape: shape)                     // N×C
                x = tape.add(x, tape.linear(a, parameter(p + "attn.c_proj.weight"), parameter(p + "attn.c_proj.bias")))
                let h2 = tape.layerNorm(x, weight: parameter(p + "ln_2.weight"), bias: parameter(p + "ln_2.bias"), eps: config.normEps)
                let f = tape.gelu(tape.linear(h2, parameter(p + "mlp.c_fc.weight"), parameter(p + "mlp.c_fc.bias")))  // N×F
                x = tape.add(x, tape.linear(f, parameter(p + "mlp.c_proj.weight"), parameter(p + "mlp.c_proj.bias")))
            }
            return tape.layerNorm(x, weight: parameter("ln_f.weight"), bias: parameter("ln_f.bias"), eps: config.normEps)
        case .llama:
            var x = tape.embedding(parameter("model.embed_tokens.weight"), ids: tokens)                     // N×C
            for l in 0..<config.layers {
                let p = "model.layers.\(l)."
                let h = tape.rmsNorm(x, weight: parameter(p + "input_layernorm.weight"), eps: config.normEps)
                let q = tape.rope(tape.linear(h, parameter(p + "self_attn.q_proj.weight")), seq: seq, heads: config.heads, table: rope!)
                let k = tape.rope(tape.linear(h, parameter(p + "self_attn.k_proj.weight")), seq: seq, heads: config.kvHeads, table: rope!)
                let v = tape.linear(h, parameter(p + "self_attn.v_proj.weight"))                            // N×(G·D)
                let a = tape.attention(q: q, k: k, v: v, shape: shape)                                     // N×C
                x = tape.add(x, tape.linear(a, parameter(p + "self_attn.o_proj.weight")))
                let h2 = tape.rmsNorm(x, weight: parameter(p + "post_attention_layernorm.weight"), eps: config.normEps)
                let g = tape.swiglu(gate: tape.linear(h2, parameter(p + "mlp.gate_proj.weight")),
                                    up: tape.linear(h2, parameter(p + "mlp.up_proj.weight")))             // N×F
                x = tape.add(x, tape.linear(g, parameter(p + "mlp.down_proj.weight")))
            }
            return tape.rmsNorm(x, weight: parameter("model.norm.weight"), eps: config.normEps)
        }
    }
}
