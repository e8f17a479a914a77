// ReferenceTransformer: the GPT-2 and Llama forward written again with Ref ops in Float64,
// from the papers' definitions, for checking the fast model's logits and gradients.
import Foundation

/// Model sizes for the reference (kept separate from TransformerConfig on purpose).
public struct RefConfig {
    public var llama: Bool
    public var vocab, context, width, layers, heads, kvHeads, ffn: Int
    public var eps: Double
    public var ropeTheta: Double
    public var tied: Bool
    /// Gemma 3: head size, sliding window, every `pattern`-th layer global, local RoPE base, score scale.
    public var gemma = false
    public var headDim: Int?
    public var window: Int?
    public var pattern = 6
    public var localTheta = 10000.0
    public var scale: Double?
    public init(llama: Bool, vocab: Int, context: Int, width: Int, layers: Int, heads: Int, kvHeads: Int, ffn: Int,
                eps: Double, ropeTheta: Double, tied: Bool) {
        (self.llama, self.vocab, self.context, self.width, self.layers, self.heads, self.kvHeads, self.ffn) =
            (llama, vocab, context, width, layers, heads, kvHeads, ffn)
        (self.eps, self.ropeTheta, self.tied) = (eps, ropeTheta, tied)
    }
}

/// A Float64 transformer over named weights in [out, in] layout.
public struct ReferenceTransformer {
    public let config: RefConfig
    public var weights: [String: [Double]]

    public init(config: RefConfig, weights: [String: [Double]]) {
        self.config = config
        self.weights = weights
    }

    func w(_ name: String) -> [Double] {
        guard let v = weights[name] else { fatalError("reference model lacks \(name)") }
        return v
    }

    /// Logits [(B·T), V].
    public func logits(tokens: [Int], batch: Int, seq: Int) -> [Double] {
        let c = config, C = c.width, N = batch * seq, D = C / c.heads, kvW = c.kvHeads * D
        func lin(_ x: [Double], _ inF: Int, _ name: String, _ outF: Int, bias: Bool) -> [Double] {
            Ref.linear(x, rows: N, inF: inF, weight: w(name + ".weight"), bias: bias ? w(name + ".bias") : nil, outF: outF)
        }
        var x: [Double]
        if c.gemma { return gemmaLogits(tokens: tokens, batch: batch, seq: seq) }
        if c.llama {
            x = Ref.embedding(w("model.embed_tokens.weight"), cols: C, ids: tokens)
            for l in 0..<c.layers {
                let p = "model.layers.\(l)."
                let h = Ref.rmsNorm(x, rows: N, cols: C, weight: w(p + "input_layernorm.weight"), eps: c.eps)
                let q = Ref.rope(lin(h, C, p + "self_attn.q_proj", C, bias: false), rows: N, seq: seq, heads: c.heads, headDim: D, theta: c.ropeTheta)
                let k = Ref.rope(lin(h, C, p + "self_attn.k_proj", kvW, bias: false), rows: N, seq: seq, heads: c.kvHeads, headDim: D, theta: c.ropeTheta)
                let v = lin(h, C, p + "self_attn.v_proj", kvW, bias: false)
                let a = Ref.attention(q: q, k: k, v: v, batch: batch, seq: seq, heads: c.heads, kvHeads: c.kvHeads, headDim: D, causal: true)
                x = zip(x, lin(a, C, p + "self_attn.o_proj", C, bias: false)).map(+)
                let h2 = Ref.rmsNorm(x, rows: N, cols: C, weight: w(p + "post_attention_layernorm.weight"), eps: c.eps)
                let g = Ref.swiglu(gate: lin(h2, C, p + "mlp.gate_proj", c.ffn, bias: false), up: lin(h2, C, p + "mlp.up_proj", c.ffn, bias: false))
                x = zip(x, lin(g, c.ffn, p + "mlp.down_proj", C, bias: false)).map(+)
            }
            x = Ref.rmsNorm(x, rows: N, cols: C, weight: w("model.norm.weight"), eps: c.eps)
        } else {
            let positions = (0..<N).map { $0 % seq }
            x = zip(Ref.embedding(w("wte.weight"), cols: C, ids: tokens), Ref.embedding(w("wpe.weight"), cols: C, ids: positions)).map(+)
            for l in 0..<c.layers {
                let p = "h.\(l)."
                let h = Ref.layerNorm(x, rows: N, cols: C, weight: w(p + "ln_1.weight"), bias: w(p + "ln_1.bias"), eps: c.eps)
                let qkv = lin(h, C, p + "attn.c_attn", 3 * C, bias: true)
                var q = [Double](), k = [Double](), v = [Double]()
                for r in 0..<N {
                    let base: Int = r * 3 * C
                    q += qkv[base..<(base + C)]
                    k += qkv[(base + C)..<(base + 2 * C)]
                    v += qkv[(base + 2 * C)..<(base + 3 * C)]
                }
                let a = Ref.attention(q: q, k: k, v: v, batch: batch, seq: seq, heads: c.heads, kvHeads: c.heads, headDim: D, causal: true)
                x = zip(x, lin(a, C, p + "attn.c_proj", C, bias: true)).map(+)
                let h2 = Ref.layerNorm(x, rows: N, cols: C, weight: w(p + "ln_2.weight"), bias: w(p + "ln_2.bias"), eps: c.eps)
                let f = Ref.gelu(lin(h2, C, p + "mlp.c_fc", c.ffn, bias: true))
                x = zip(x, lin(f, c.ffn, p + "mlp.c_proj", C, bias: true)).map(+)
            }
            x = Ref.layerNorm(x, rows: N, cols: C, weight: w("ln_f.weight"), bias: w("ln_f.bias"), eps: c.eps)
        }
        let head = c.tied ? w(c.llama ? "model.embed_tokens.weight" : "wte.weight") : w("lm_head.weight")
        return Ref.linear(x, rows: N, inF: C, weight: head, bias: nil, outF: c.vocab)
    }

    /// Gemma 3 from its definition: √C-scaled embeddings, (1 + w) RMSNorms around attention and MLP, per-head
    /// Q/K norms, local/global RoPE bases and windows, GELU-tanh gated MLP.
    func gemmaLogits(tokens: [Int], batch: Int, seq: Int) -> [Double] {
        let c = config, C = c.width, N = batch * seq, D = c.headDim ?? C / c.heads, qW = c.heads * D, kvW = c.kvHeads * D
        func lin(_ x: [Double], _ inF: Int, _ name: String, _ outF: Int) -> [Double] {
            Ref.linear(x, rows: N, inF: inF, weight: w(name), bias: nil, outF: outF)
        }
        func norm(_ x: [Double], _ name: String, cols: Int) -> [Double] {
            Ref.rmsNorm(x, rows: x.count / cols, cols: cols, weight: w(name).map { 1 + $0 }, eps: c.eps)
        }
        var x = Ref.embedding(w("model.embed_tokens.weight"), cols: C, ids: tokens).map { $0 * Double(Float(C).squareRoot()) }
        for l in 0..<c.layers {
            let p = "model.layers.\(l).", global = (l + 1) % c.pattern == 0
            let theta = global ? c.ropeTheta : c.localTheta
            let h = norm(x, p + "input_layernorm.weight", cols: C)
            let q = Ref.rope(norm(lin(h, C, p + "self_attn.q_proj.weight", qW), p + "self_attn.q_norm.weight", cols: D),
                             rows: N, seq: seq, heads: c.heads, headDim: D, theta: theta)
            let k = Ref.rope(norm(lin(h, C, p + "self_attn.k_proj.weight", kvW), p + "self_attn.k_norm.weight", cols: D),
                             rows: N, seq: seq, heads: c.kvHeads, headDim: D, theta: theta)
            let v = lin(h, C, p + "self_attn.v_proj.weight", kvW)
            let a = Ref.attention(q: q, k: k, v: v, batch: batch, seq: seq, heads: c.heads, kvHeads: c.kvHeads, headDim: D, causal: true,
                                  window: global ? nil : c.window, scale: c.scale)
            x = zip(x, norm(lin(a, qW, p + "self_attn.o_proj.weight", C), p + "post_attention_layernorm.weight", cols: C)).map(+)
            let h2 = norm(x, p + "pre_feedforward_layernorm.weight", cols: C)
            let g = zip(Ref.gelu(lin(h2, C, p + "mlp.gate_proj.weight", c.ffn)), lin(h2, C, p + "mlp.up_proj.weight", c.ffn)).map(*)
            x = zip(x, norm(lin(g, c.ffn, p + "mlp.down_proj.weight", C), p + "post_feedforward_layernorm.weight", cols: C)).map(+)
        }
        x = norm(x, "model.norm.weight", cols: C)
        let head = c.tied ? w("model.embed_tokens.weight") : w("lm_head.weight")
        return Ref.linear(x, rows: N, inF: C, weight: head, bias: nil, outF: c.vocab)
    }

    /// Mean cross-entropy of next-token predictions.
    public func loss(tokens: [Int], targets: [Int], batch: Int, seq: Int) -> Double {
        Ref.crossEntropy(logits(tokens: tokens, batch: batch, seq: seq), rows: batch * seq, vocab: config.vocab, targets: targets)
    }
}
