// Gemma 3 (text): embeddings scaled by √C; RMSNorm that multiplies by 1 + w (weights start at 0) before and
// after attention and before and after the MLP; RMSNorm of each query and key head (QK norm); rotary positions
// with base 10 000 in sliding-window layers and a larger base in the global ones (every 6th layer is global,
// the others see the last `sliding_window` positions); scores scaled by query_pre_attn_scalar^−½; a GELU-tanh
// gated MLP (GeGLU); grouped-query attention with a head size of its own (256); tied embeddings.
// llama.cpp's converter stores every norm weight as 1 + w and keeps Q/K rows in Hugging Face's order (its
// rotation pairs halves, NEOX style). On GGUF weights the GeGLU follows ggml's f16 GELU table, so that Forge
// computes llama.cpp's floats; on Float32 weights the exact tanh form, as transformers computes it.
import ForgeAutograd
import ForgeCore
import ForgeKernels
import Foundation

extension Architecture {
    public static let gemma3: Architecture = "gemma3"
}

public enum Gemma3: ModelArchitecture {
    public static let name = "gemma3"
    public static let modelTypes = ["gemma3_text", "gemma3"]
    public static let ggufName: String? = "gemma3"

    // MARK: - Config

    public static func config(huggingFace k: ConfigKeys) throws -> TransformerConfig {
        if let act = try k.string("hidden_activation") ?? k.string("hidden_act"), act != "gelu_pytorch_tanh" {
            throw ForgeError("hidden_activation '\(act)' is not supported (gelu_pytorch_tanh)")
        }
        try k.refuse("attention_bias", "attention biases are not supported")
        try k.refuse("final_logit_softcapping", "final logit soft-capping is not supported yet")
        try k.refuse("attn_logit_softcapping", "attention soft-capping is not supported")
        try k.refuse("rope_scaling", "RoPE scaling is not supported yet")
        let width = try k.int("hidden_size", ConfigLimits.width), heads = try k.int("num_attention_heads", ConfigLimits.heads)
        let kvHeads = try k.int("num_key_value_heads", ConfigLimits.heads, default: heads)
        guard heads % kvHeads == 0 else { throw ForgeError("num_attention_heads \(heads) is not a multiple of num_key_value_heads \(kvHeads)") }
        let headDim = try k.int("head_dim", ConfigLimits.headDim, default: 256)
        guard headDim % 2 == 0 else { throw ForgeError("head_dim \(headDim) must be even") }
        let layers = try k.int("num_hidden_layers", ConfigLimits.layers)
        let vocab = try k.int("vocab_size", ConfigLimits.vocab)
        let window = try k.optionalInt("sliding_window", ConfigLimits.context)
        var pattern = try k.optionalInt("sliding_window_pattern", 1...4096) ?? 6
        if let types = try k.strings("layer_types") {
            guard types.count == layers else { throw ForgeError("layer_types has \(types.count) entries for \(layers) layers") }
            // Forge expresses the layer kinds as "every n-th layer is global"; other arrangements are refused.
            let globals = types.indices.filter { types[$0] == "full_attention" }
            if let first = globals.first {
                pattern = first + 1
                guard types.indices.allSatisfy({ (types[$0] == "full_attention") == (($0 + 1) % pattern == 0) }) else {
                    throw ForgeError("layer_types is not 'every \(pattern)th layer global'; other arrangements are not supported")
                }
            } else {
                pattern = layers + 1
            }
        }
        // Newer transformers keep the bases in rope_parameters per layer kind.
        var theta = try k.double("rope_theta", ConfigLimits.ropeTheta, default: 1_000_000)
        var local = try k.double("rope_local_base_freq", ConfigLimits.ropeTheta, default: 10000)
        if let rp = k.raw("rope_parameters") as? [String: Any] {
            if let full = rp["full_attention"] as? [String: Any] { theta = try ConfigKeys(json: full).double("rope_theta", ConfigLimits.ropeTheta, default: theta) }
            if let slide = rp["sliding_attention"] as? [String: Any] { local = try ConfigKeys(json: slide).double("rope_theta", ConfigLimits.ropeTheta, default: local) }
        }
        let scalar = try k.double("query_pre_attn_scalar", 1e-6...1e9, default: Double(headDim))
        return TransformerConfig(
            architecture: .gemma3, vocabSize: vocab, contextLength: try k.int("max_position_embeddings", ConfigLimits.context),
            width: width, layers: layers, heads: heads, kvHeads: kvHeads, headDim: headDim,
            ffnWidth: try k.int("intermediate_size", ConfigLimits.ffn),
            normEps: Float(try k.double("rms_norm_eps", ConfigLimits.eps, default: 1e-6)), ropeTheta: theta, ropeLocalTheta: local,
            slidingWindow: window, slidingWindowPattern: pattern, attentionScale: Float(1 / scalar.squareRoot()),
            tiedEmbeddings: try k.bool("tie_word_embeddings", default: true),
            initStd: Float(try k.double("initializer_range", 0...1, default: 0.02)),
            bosTokenId: try k.tokenId("bos_token_id", vocab: vocab), eosTokenId: try k.tokenId("eos_token_id", vocab: vocab))
    }

    public static func huggingFaceConfig(_ c: TransformerConfig) -> [String: Any] {
        let pattern = c.slidingWindowPattern ?? (c.layers + 1)
        var d: [String: Any] = [
            "model_type": "gemma3_text", "architectures": ["Gemma3ForCausalLM"], "vocab_size": c.vocabSize, "hidden_size": c.width,
            "intermediate_size": c.ffnWidth, "num_hidden_layers": c.layers, "num_attention_heads": c.heads,
            "num_key_value_heads": c.kvHeads, "head_dim": c.headDim, "max_position_embeddings": c.contextLength,
            "rms_norm_eps": c.normEps, "rope_theta": c.ropeTheta, "rope_local_base_freq": c.ropeLocalTheta ?? c.ropeTheta,
            "sliding_window_pattern": pattern,
            "layer_types": (0..<c.layers).map { c.isSliding($0) ? "sliding_attention" : "full_attention" },
            "query_pre_attn_scalar": Double(1 / (c.scoreScale * c.scoreScale)), "hidden_activation": "gelu_pytorch_tanh",
            "attention_bias": false, "attention_dropout": 0, "final_logit_softcapping": NSNull(), "attn_logit_softcapping": NSNull(),
            "rope_scaling": NSNull(), "tie_word_embeddings": c.tiedEmbeddings, "initializer_range": c.initStd,
            "torch_dtype": "float32", "use_cache": true,
        ]
        d["sliding_window"] = c.slidingWindow ?? c.contextLength
        d["bos_token_id"] = c.bosTokenId
        d["eos_token_id"] = c.eosTokenId
        d["pad_token_id"] = 0
        return d
    }

    public static func ggufMetadata(_ c: TransformerConfig) throws -> [(String, GGUFTypedValue)] {
        var m: [(String, GGUFTypedValue)] = [
            ("gemma3.context_length", .u32(UInt32(c.contextLength))), ("gemma3.embedding_length", .u32(UInt32(c.width))),
            ("gemma3.block_count", .u32(UInt32(c.layers))), ("gemma3.feed_forward_length", .u32(UInt32(c.ffnWidth))),
            ("gemma3.attention.head_count", .u32(UInt32(c.heads))), ("gemma3.attention.head_count_kv", .u32(UInt32(c.kvHeads))),
            ("gemma3.attention.layer_norm_rms_epsilon", .f32(c.normEps)),
            ("gemma3.attention.key_length", .u32(UInt32(c.headDim))), ("gemma3.attention.value_length", .u32(UInt32(c.headDim))),
            ("gemma3.rope.freq_base", .f32(Float(c.ropeTheta))),
        ]
        if let w = c.slidingWindow { m.append(("gemma3.attention.sliding_window", .u32(UInt32(w)))) }
        // llama.cpp's defaults (every 6th layer global, local RoPE base 10000) are written only when they differ.
        if let p = c.slidingWindowPattern, p != 6 { m.append(("gemma3.attention.sliding_window_pattern", .u32(UInt32(p)))) }
        if let local = c.ropeLocalTheta, local != 10000 { m.append(("gemma3.rope.freq_base_swa", .f32(Float(local)))) }
        let llamaScale = c.layers == 62 ? 1 / Float(c.width / c.heads).squareRoot() : 1 / Float(c.headDim).squareRoot()
        guard abs(c.scoreScale - llamaScale) <= 1e-6 * llamaScale else {
            throw ForgeError("this Gemma 3 config's attention scale (query_pre_attn_scalar) is not the one llama.cpp derives; it has no GGUF form")
        }
        return m
    }

    public static func config(gguf k: ConfigKeys, vocabSize: Int) throws -> TransformerConfig {
        try k.refuse("final_logit_softcapping", "final logit soft-capping is not supported yet")
        let width = try k.int("embedding_length", ConfigLimits.width), heads = try k.int("attention.head_count", ConfigLimits.heads)
        let kvHeads = try k.int("attention.head_count_kv", ConfigLimits.heads, default: heads)
        guard heads % kvHeads == 0 else { throw ForgeError("\(k.prefix)attention.head_count \(heads) is not a multiple of \(k.prefix)attention.head_count_kv \(kvHeads)") }
        let headDim = try k.int("attention.key_length", ConfigLimits.headDim, default: 256)
        let valueDim = try k.int("attention.value_length", ConfigLimits.headDim, default: headDim)
        guard valueDim == headDim else { throw ForgeError("\(k.prefix)attention.value_length \(valueDim) differs from key_length \(headDim)") }
        let layers = try k.int("block_count", ConfigLimits.layers)
        let window = try k.optionalInt("attention.sliding_window", 0...ConfigLimits.context.upperBound).flatMap { $0 > 0 ? $0 : nil }
        if k.has("attention.sliding_window_pattern") && !(k.raw("attention.sliding_window_pattern") is Int) {
            throw ForgeError("\(k.prefix)attention.sliding_window_pattern as a per-layer list is not supported yet")
        }
        // llama.cpp's gemma3: every 6th layer global unless the file says otherwise; its 27B scales by 1/√(C/H).
        let pattern = try k.int("attention.sliding_window_pattern", 1...4096, default: 6)
        let scale = layers == 62 ? 1 / Float(width / heads).squareRoot() : 1 / Float(headDim).squareRoot()
        return TransformerConfig(
            architecture: .gemma3, vocabSize: vocabSize, contextLength: try k.int("context_length", ConfigLimits.context, default: 131072),
            width: width, layers: layers, heads: heads, kvHeads: kvHeads, headDim: headDim,
            ffnWidth: try k.int("feed_forward_length", ConfigLimits.ffn),
            normEps: Float(try k.double("attention.layer_norm_rms_epsilon", ConfigLimits.eps, default: 1e-6)),
            ropeTheta: try k.double("rope.freq_base", ConfigLimits.ropeTheta, default: 1_000_000),
            ropeLocalTheta: try k.double("rope.freq_base_swa", ConfigLimits.ropeTheta, default: 10000),
            slidingWindow: window, slidingWindowPattern: pattern, attentionScale: scale)
    }

    // MARK: - Parameters

    public static func parameters(_ c: TransformerConfig) -> [ParameterSpec] {
        let C = c.width, F = c.ffnWidth, D = c.headDim
        func norm(_ name: String, _ n: Int, _ gguf: String) -> ParameterSpec {
            .vector(name, n, initial: 0, gguf: gguf, transform: .plusOne)
        }
        var out: [ParameterSpec] = [.embedding("model.embed_tokens.weight", c.vocabSize, C, gguf: "token_embd.weight")]
        for l in 0..<c.layers {
            let p = "model.layers.\(l).", g = "blk.\(l)."
            out += [norm(p + "input_layernorm.weight", C, g + "attn_norm.weight"),
                    .matrix(p + "self_attn.q_proj.weight", c.qWidth, C, gguf: g + "attn_q.weight"),
                    .matrix(p + "self_attn.k_proj.weight", c.kvWidth, C, gguf: g + "attn_k.weight"),
                    .matrix(p + "self_attn.v_proj.weight", c.kvWidth, C, gguf: g + "attn_v.weight"),
                    .matrix(p + "self_attn.o_proj.weight", C, c.qWidth, gguf: g + "attn_output.weight", residual: true),
                    norm(p + "self_attn.q_norm.weight", D, g + "attn_q_norm.weight"),
                    norm(p + "self_attn.k_norm.weight", D, g + "attn_k_norm.weight"),
                    norm(p + "post_attention_layernorm.weight", C, g + "post_attention_norm.weight"),
                    norm(p + "pre_feedforward_layernorm.weight", C, g + "ffn_norm.weight"),
                    .matrix(p + "mlp.gate_proj.weight", F, C, gguf: g + "ffn_gate.weight"),
                    .matrix(p + "mlp.up_proj.weight", F, C, gguf: g + "ffn_up.weight"),
                    .matrix(p + "mlp.down_proj.weight", C, F, gguf: g + "ffn_down.weight", residual: true),
                    norm(p + "post_feedforward_layernorm.weight", C, g + "post_ffw_norm.weight")]
        }
        out.append(norm("model.norm.weight", C, "output_norm.weight"))
        if !c.tiedEmbeddings { out.append(.matrix("lm_head.weight", c.vocabSize, C, gguf: "output.weight")) }
        return out
    }

    // MARK: - Training forward

    public static func outputWeight(_ m: Transformer) -> Variable {
        m.parameter(m.config.tiedEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight")
    }

    public static func hidden(_ m: Transformer, _ tape: Tape, tokens: [Int32], layout: TokenLayout) -> Variable {
        let c = m.config, eps = c.normEps, seq = layout.seq
        func norm(_ x: Variable, _ name: String) -> Variable { tape.rmsNorm(x, weight: m.parameter(name), eps: eps, offset: 1) }
        var x = tape.scale(m.embedding(tape, "model.embed_tokens.weight", ids: tokens), Float(c.width).squareRoot())  // N×C
        for l in 0..<c.layers {
            let p = "model.layers.\(l).", shape = m.attentionShape(layout: layout, layer: l)
            let rope = m.ropeTable(theta: c.ropeBase(l), seq: seq)
            x = m.block(tape, x) { tape, x in
                func norm(_ x: Variable, _ name: String) -> Variable { tape.rmsNorm(x, weight: m.parameter(p + name), eps: eps, offset: 1) }
                let h = norm(x, "input_layernorm.weight")
                let q = tape.rope(norm(m.linear(tape, h, p + "self_attn.q_proj.weight"), "self_attn.q_norm.weight"),
                                  seq: seq, heads: c.heads, table: rope, positions: layout.positions)                                  // N×(H·D)
                let k = tape.rope(norm(m.linear(tape, h, p + "self_attn.k_proj.weight"), "self_attn.k_norm.weight"),
                                  seq: seq, heads: c.kvHeads, table: rope, positions: layout.positions)                                // N×(G·D)
                let v = m.linear(tape, h, p + "self_attn.v_proj.weight")
                let a = tape.attention(q: q, k: k, v: v, shape: shape)
                let x1 = tape.add(x, norm(m.linear(tape, a, p + "self_attn.o_proj.weight"), "post_attention_layernorm.weight"))
                let h2 = norm(x1, "pre_feedforward_layernorm.weight")
                let g = tape.mul(tape.gelu(m.linear(tape, h2, p + "mlp.gate_proj.weight")), m.linear(tape, h2, p + "mlp.up_proj.weight"))
                return tape.add(x1, norm(m.linear(tape, g, p + "mlp.down_proj.weight"), "post_feedforward_layernorm.weight"))
            }
        }
        return norm(x, "model.norm.weight")
    }

    // MARK: - Inference forward

    final class Network: InferenceNetwork {
        struct Layer {
            var attentionNorm, qNorm, kNorm, postAttentionNorm, ffnNorm, postFFNNorm: [Float]
            var q, k, v, o, gate, up, down: Projection
        }
        let config: TransformerConfig
        let embedding: WeightMatrix
        let layers: [Layer]
        let outputNorm: [Float]
        let output: Projection
        /// GGUF weights take ggml's table GELU (llama.cpp's floats); Float32 weights the exact tanh form.
        let tableGELU: Bool

        init(_ c: TransformerConfig, _ w: WeightSource) throws {
            config = c
            tableGELU = w.isGGUF
            embedding = try w.matrix("model.embed_tokens.weight", packed: false)
            layers = try (0..<c.layers).map { l in
                let p = "model.layers.\(l)."
                return Layer(attentionNorm: try w.vector(p + "input_layernorm.weight"), qNorm: try w.vector(p + "self_attn.q_norm.weight"),
                             kNorm: try w.vector(p + "self_attn.k_norm.weight"),
                             postAttentionNorm: try w.vector(p + "post_attention_layernorm.weight"),
                             ffnNorm: try w.vector(p + "pre_feedforward_layernorm.weight"),
                             postFFNNorm: try w.vector(p + "post_feedforward_layernorm.weight"),
                             q: try w.projection(p + "self_attn.q_proj.weight"), k: try w.projection(p + "self_attn.k_proj.weight"),
                             v: try w.projection(p + "self_attn.v_proj.weight"), o: try w.projection(p + "self_attn.o_proj.weight"),
                             gate: try w.projection(p + "mlp.gate_proj.weight"), up: try w.projection(p + "mlp.up_proj.weight"),
                             down: try w.projection(p + "mlp.down_proj.weight"))
            }
            outputNorm = try w.vector("model.norm.weight")
            output = c.tiedEmbeddings ? Projection(embedding.packedForDecode(), "model.embed_tokens.weight")
                                      : try w.projection("lm_head.weight")
            let stride = 4 * c.width + 2 * c.headDim
            normWeights = .allocate(capacity: c.layers * stride + c.width)
            for (l, L) in layers.enumerated() {
                var at = normWeights + l * stride
                for v in [L.attentionNorm, L.qNorm, L.kNorm, L.postAttentionNorm, L.ffnNorm, L.postFFNNorm] {
                    at.initialize(from: v, count: v.count)
                    at += v.count
                }
            }
            (normWeights + c.layers * stride).initialize(from: outputNorm, count: c.width)
        }

        var matrices: [WeightMatrix] {
            layers.flatMap { [$0.q, $0.k, $0.v, $0.o, $0.gate, $0.up, $0.down].map(\.matrix) } + [output.matrix]
        }

        /// The norms' weights in one buffer, `normStride` floats per layer (input, q, k, post-attention, pre-feed-forward and
        /// post-feed-forward norms), the output norm last: read by every part of a decode region.
        let normWeights: UnsafeMutablePointer<Float>
        var normStride: Int { 4 * config.width + 2 * config.headDim }
        /// A decode region's state, kept between tokens.
        let region = DecodeRegionSlot()

        deinit { normWeights.deallocate() }

        func forward(_ pass: ForwardPass) {
            if forwardInRegion(pass) { return }
            let c = config, T = pass.rows, C = c.width, F = c.ffnWidth
            let x = pass.floats(T * C), h = pass.floats(T * C), q = pass.floats(T * c.qWidth), att = pass.floats(T * c.qWidth)
            let k = pass.floats(T * c.kvWidth), v = pass.floats(T * c.kvWidth), tmp = pass.floats(T * C)
            let gate = pass.floats(T * F), up = pass.floats(T * F)
            pass.embed(embedding, into: x, scale: Float(C).squareRoot())
            for (l, L) in layers.enumerated() {
                pass.rmsNorm(x, L.attentionNorm, into: h, width: C)
                pass.project([(L.q, q), (L.k, k), (L.v, v)], h)
                pass.rmsNorm(q, L.qNorm, into: q, width: c.qWidth)
                pass.rmsNorm(k, L.kNorm, into: k, width: c.kvWidth)
                pass.rope(q, heads: c.heads, theta: c.ropeBase(l), adjacent: false)
                pass.rope(k, heads: c.kvHeads, theta: c.ropeBase(l), adjacent: false)
                // llama.cpp scales the queries, then attends with scale 1.
                let s = c.scoreScale
                for i in 0..<(T * c.qWidth) { q[i] *= s }
                pass.attend(layer: l, q: q, k: k, v: v, out: att, scale: 1)
                pass.project([(L.o, tmp)], att)
                if l == c.layers - 1 && !pass.keepLogitRows([(x, C), (tmp, C)]) { return }
                pass.rmsNorm(tmp, L.postAttentionNorm, into: tmp, width: C)
                pass.addRows(x, tmp, cols: C)
                pass.rmsNorm(x, L.ffnNorm, into: h, width: C)
                pass.project([(L.gate, gate), (L.up, up)], h)
                StepProfile.measure(.activation) { Gemma3.gatedGELU(gate: gate, up: up, into: gate, count: pass.rows * F, table: tableGELU) }
                pass.project([(L.down, tmp)], gate)
                pass.rmsNorm(tmp, L.postFFNNorm, into: tmp, width: C)
                pass.addRows(x, tmp, cols: C)
            }
            pass.rmsNorm(x, outputNorm, into: h, width: C)
            pass.computeLogits(output, h)
        }
    }

    public static func inferenceNetwork(_ c: TransformerConfig, _ source: WeightSource) throws -> InferenceNetwork {
        try Network(c, source)
    }

    /// out = GELU(gate) · up over `count` values: ggml's f16 GELU table (`table`, GGUF weights) or the exact tanh form.
    static func gatedGELU(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                          count n: Int, table: Bool) {
        if table {
            LlamaCppMath.geglu(gate: gate, up: up, out, n)
        } else {
            Activations.geluForward(gate, out, n)
            for i in 0..<n { out[i] *= up[i] }
        }
    }
}
