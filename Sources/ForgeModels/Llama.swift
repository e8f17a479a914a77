// Llama: RMSNorm, rotary positions, grouped-query attention without biases, SwiGLU MLP, tied or untied head
// (Llama 2/3, SmolLM2, Mistral without sliding window, ...). llama.cpp's converter permutes the rows of Q and K
// in each head so that rotary pairs are adjacent (2i, 2i+1); Hugging Face pairs i with i + D/2. GGUF weights
// keep llama.cpp's order and rotate adjacent pairs, so the products sum in llama.cpp's order.
import ForgeAutograd
import ForgeCore
import ForgeKernels

extension Architecture {
    public static let llama: Architecture = "llama"
}

public enum Llama: ModelArchitecture {
    public static let name = "llama"
    public static let modelTypes = ["llama", "mistral"]
    public static let ggufName: String? = "llama"

    // MARK: - Config

    public static func config(huggingFace k: ConfigKeys) throws -> TransformerConfig {
        try k.require("hidden_act", oneOf: ["silu"])
        try k.refuse("attention_bias", "attention biases are not supported")
        try k.refuse("mlp_bias", "MLP biases are not supported")
        try k.refuse("rope_scaling", "RoPE scaling is not supported yet")
        try k.refuse("sliding_window", "sliding-window attention is supported for Gemma 3 only")
        let width = try k.int("hidden_size", ConfigLimits.width), heads = try k.int("num_attention_heads", ConfigLimits.heads)
        let kvHeads = try k.int("num_key_value_heads", ConfigLimits.heads, default: heads)
        guard heads % kvHeads == 0 else { throw ForgeError("num_attention_heads \(heads) is not a multiple of num_key_value_heads \(kvHeads)") }
        let headDim = try k.optionalInt("head_dim", ConfigLimits.headDim) ?? width / heads
        guard headDim > 0, headDim % 2 == 0 else { throw ForgeError("head_dim \(headDim) must be even (hidden_size / num_attention_heads)") }
        let vocab = try k.int("vocab_size", ConfigLimits.vocab)
        return TransformerConfig(
            architecture: .llama, vocabSize: vocab, contextLength: try k.int("max_position_embeddings", ConfigLimits.context),
            width: width, layers: try k.int("num_hidden_layers", ConfigLimits.layers), heads: heads, kvHeads: kvHeads,
            headDim: headDim, ffnWidth: try k.int("intermediate_size", ConfigLimits.ffn),
            normEps: Float(try k.double("rms_norm_eps", ConfigLimits.eps, default: 1e-6)),
            ropeTheta: try k.double("rope_theta", ConfigLimits.ropeTheta, default: 10000),
            tiedEmbeddings: try k.bool("tie_word_embeddings", default: false),
            initStd: Float(try k.double("initializer_range", 0...1, default: 0.02)),
            bosTokenId: try k.tokenId("bos_token_id", vocab: vocab), eosTokenId: try k.tokenId("eos_token_id", vocab: vocab))
    }

    public static func huggingFaceConfig(_ c: TransformerConfig) -> [String: Any] {
        var d: [String: Any] = [
            "model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": c.vocabSize, "hidden_size": c.width,
            "intermediate_size": c.ffnWidth, "num_hidden_layers": c.layers, "num_attention_heads": c.heads,
            "num_key_value_heads": c.kvHeads, "head_dim": c.headDim, "max_position_embeddings": c.contextLength,
            "rms_norm_eps": c.normEps, "rope_theta": c.ropeTheta, "hidden_act": "silu", "attention_bias": false,
            "mlp_bias": false, "tie_word_embeddings": c.tiedEmbeddings, "initializer_range": c.initStd, "torch_dtype": "float32",
        ]
        d["bos_token_id"] = c.bosTokenId
        d["eos_token_id"] = c.eosTokenId
        return d
    }

    public static func config(gguf k: ConfigKeys, vocabSize: Int) throws -> TransformerConfig {
        let width = try k.int("embedding_length", ConfigLimits.width), heads = try k.int("attention.head_count", ConfigLimits.heads)
        let kvHeads = try k.int("attention.head_count_kv", ConfigLimits.heads, default: heads)
        guard heads % kvHeads == 0 else { throw ForgeError("\(k.prefix)attention.head_count \(heads) is not a multiple of \(k.prefix)attention.head_count_kv \(kvHeads)") }
        let headDim = try k.int("attention.key_length", ConfigLimits.headDim, default: width / heads)
        if let rotary = try k.optionalInt("rope.dimension_count", ConfigLimits.headDim), rotary != headDim {
            throw ForgeError("partial rotary embedding (\(rotary) of \(headDim) channels) is not supported")
        }
        if let scaling = try k.string("rope.scaling.type"), scaling != "none" {
            throw ForgeError("RoPE scaling (\(k.prefix)rope.scaling.type = \(scaling)) is not supported yet")
        }
        return TransformerConfig(
            architecture: .llama, vocabSize: vocabSize, contextLength: try k.int("context_length", ConfigLimits.context, default: 2048),
            width: width, layers: try k.int("block_count", ConfigLimits.layers), heads: heads, kvHeads: kvHeads, headDim: headDim,
            ffnWidth: try k.int("feed_forward_length", ConfigLimits.ffn),
            normEps: Float(try k.double("attention.layer_norm_rms_epsilon", ConfigLimits.eps, default: 1e-5)),
            ropeTheta: try k.double("rope.freq_base", ConfigLimits.ropeTheta, default: 10000))
    }

    public static func ggufMetadata(_ c: TransformerConfig) throws -> [(String, GGUFTypedValue)] {
        let m: [(String, GGUFTypedValue)] = [
            ("llama.block_count", .u32(UInt32(c.layers))), ("llama.context_length", .u32(UInt32(c.contextLength))),
            ("llama.embedding_length", .u32(UInt32(c.width))), ("llama.feed_forward_length", .u32(UInt32(c.ffnWidth))),
            ("llama.attention.head_count", .u32(UInt32(c.heads))), ("llama.attention.head_count_kv", .u32(UInt32(c.kvHeads))),
            ("llama.rope.freq_base", .f32(Float(c.ropeTheta))), ("llama.attention.layer_norm_rms_epsilon", .f32(c.normEps)),
            ("llama.vocab_size", .u32(UInt32(c.vocabSize))), ("llama.rope.dimension_count", .u32(UInt32(c.headDim))),
            ("llama.attention.key_length", .u32(UInt32(c.headDim))), ("llama.attention.value_length", .u32(UInt32(c.headDim))),
        ]
        return m
    }

    public static func validate(_ c: TransformerConfig) throws {
        guard c.headDim % 2 == 0 else { throw ForgeError("config: RoPE needs an even head size, got \(c.headDim)") }
    }

    // MARK: - Parameters

    public static func parameters(_ c: TransformerConfig) -> [ParameterSpec] {
        let C = c.width, F = c.ffnWidth
        var out: [ParameterSpec] = [.embedding("model.embed_tokens.weight", c.vocabSize, C, gguf: "token_embd.weight")]
        for l in 0..<c.layers {
            let p = "model.layers.\(l).", g = "blk.\(l)."
            out += [.vector(p + "input_layernorm.weight", C, initial: 1, gguf: g + "attn_norm.weight"),
                    .matrix(p + "self_attn.q_proj.weight", c.qWidth, C, gguf: g + "attn_q.weight",
                            transform: .ropePermutation(heads: c.heads)),
                    .matrix(p + "self_attn.k_proj.weight", c.kvWidth, C, gguf: g + "attn_k.weight",
                            transform: .ropePermutation(heads: c.kvHeads)),
                    .matrix(p + "self_attn.v_proj.weight", c.kvWidth, C, gguf: g + "attn_v.weight"),
                    .matrix(p + "self_attn.o_proj.weight", C, c.qWidth, gguf: g + "attn_output.weight", residual: true),
                    .vector(p + "post_attention_layernorm.weight", C, initial: 1, gguf: g + "ffn_norm.weight"),
                    .matrix(p + "mlp.gate_proj.weight", F, C, gguf: g + "ffn_gate.weight"),
                    .matrix(p + "mlp.up_proj.weight", F, C, gguf: g + "ffn_up.weight"),
                    .matrix(p + "mlp.down_proj.weight", C, F, gguf: g + "ffn_down.weight", residual: true)]
        }
        out.append(.vector("model.norm.weight", C, initial: 1, gguf: "output_norm.weight"))
        if !c.tiedEmbeddings { out.append(.matrix("lm_head.weight", c.vocabSize, C, gguf: "output.weight")) }
        return out
    }

    // MARK: - Training forward

    public static func outputWeight(_ m: Transformer) -> Variable {
        m.parameter(m.config.tiedEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight")
    }

    public static func hidden(_ m: Transformer, _ tape: Tape, tokens: [Int32], layout: TokenLayout) -> Variable {
        let c = m.config, seq = layout.seq
        let rope = m.ropeTable(theta: c.ropeTheta, seq: seq)
        var x = m.embedding(tape, "model.embed_tokens.weight", ids: tokens)                   // N×C
        for l in 0..<c.layers {
            let p = "model.layers.\(l).", shape = m.attentionShape(layout: layout, layer: l)
            x = m.block(tape, x) { tape, x in
                let h = tape.rmsNorm(x, weight: m.parameter(p + "input_layernorm.weight"), eps: c.normEps)
                let q = tape.rope(m.linear(tape, h, p + "self_attn.q_proj.weight"), seq: seq, heads: c.heads, table: rope, positions: layout.positions)
                let k = tape.rope(m.linear(tape, h, p + "self_attn.k_proj.weight"), seq: seq, heads: c.kvHeads, table: rope, positions: layout.positions)
                let v = m.linear(tape, h, p + "self_attn.v_proj.weight")                                 // N×(G·D)
                let a = tape.attention(q: q, k: k, v: v, shape: shape)                                  // N×(H·D)
                let x1 = tape.add(x, m.linear(tape, a, p + "self_attn.o_proj.weight"))
                let h2 = tape.rmsNorm(x1, weight: m.parameter(p + "post_attention_layernorm.weight"), eps: c.normEps)
                let g = tape.swiglu(gate: m.linear(tape, h2, p + "mlp.gate_proj.weight"),
                                    up: m.linear(tape, h2, p + "mlp.up_proj.weight"))                   // N×F
                return tape.add(x1, m.linear(tape, g, p + "mlp.down_proj.weight"))
            }
        }
        return tape.rmsNorm(x, weight: m.parameter("model.norm.weight"), eps: c.normEps)
    }

    // MARK: - Inference forward

    final class Network: InferenceNetwork {
        struct Layer {
            var attentionNorm, ffnNorm: [Float]
            var q, k, v, o, gate, up, down: Projection
        }
        let config: TransformerConfig
        let embedding: WeightMatrix
        let layers: [Layer]
        let outputNorm: [Float]
        let output: Projection
        /// GGUF files pair adjacent channels (their Q/K rows are permuted); Hugging Face weights pair halves.
        let adjacent: Bool

        init(_ c: TransformerConfig, _ w: WeightSource) throws {
            config = c
            adjacent = w.isGGUF
            embedding = try w.matrix("model.embed_tokens.weight", packed: false)
            layers = try (0..<c.layers).map { l in
                let p = "model.layers.\(l)."
                return Layer(attentionNorm: try w.vector(p + "input_layernorm.weight"),
                             ffnNorm: try w.vector(p + "post_attention_layernorm.weight"),
                             q: try w.projection(p + "self_attn.q_proj.weight"), k: try w.projection(p + "self_attn.k_proj.weight"),
                             v: try w.projection(p + "self_attn.v_proj.weight"), o: try w.projection(p + "self_attn.o_proj.weight"),
                             gate: try w.projection(p + "mlp.gate_proj.weight"), up: try w.projection(p + "mlp.up_proj.weight"),
                             down: try w.projection(p + "mlp.down_proj.weight"))
            }
            outputNorm = try w.vector("model.norm.weight")
            // The embedding is read a row at a time; the output matrix (often the same tensor) is packed.
            output = c.tiedEmbeddings ? Projection(embedding.packedForDecode(), "model.embed_tokens.weight")
                                      : try w.projection("lm_head.weight")
            normWeights = .allocate(capacity: (2 * c.layers + 1) * c.width)
            for (l, L) in layers.enumerated() {
                (normWeights + 2 * l * c.width).initialize(from: L.attentionNorm, count: c.width)
                (normWeights + (2 * l + 1) * c.width).initialize(from: L.ffnNorm, count: c.width)
            }
            (normWeights + 2 * c.layers * c.width).initialize(from: outputNorm, count: c.width)
        }

        var matrices: [WeightMatrix] {
            layers.flatMap { [$0.q, $0.k, $0.v, $0.o, $0.gate, $0.up, $0.down].map(\.matrix) } + [output.matrix]
        }

        /// The norms' weights in one buffer (layer l: attention norm at 2l·C, feed-forward norm at (2l+1)·C, the output
        /// norm last), read by every part of a decode region without touching the arrays' reference counts.
        let normWeights: UnsafeMutablePointer<Float>
        /// A decode region's buffers and prepared products, kept between tokens (taken out while a pass uses them).
        let region = DecodeRegionSlot()

        deinit { normWeights.deallocate() }

        func forward(_ pass: ForwardPass) {
            if forwardInRegion(pass) { return }
            let c = config, T = pass.rows, C = c.width, F = c.ffnWidth
            let x = pass.floats(T * C), h = pass.floats(T * C), q = pass.floats(T * c.qWidth), att = pass.floats(T * c.qWidth)
            let k = pass.floats(T * c.kvWidth), v = pass.floats(T * c.kvWidth), tmp = pass.floats(T * C)
            let gate = pass.floats(T * F), up = pass.floats(T * F)
            pass.embed(embedding, into: x)
            for (l, L) in layers.enumerated() {
                pass.rmsNorm(x, L.attentionNorm, into: h, width: C)
                pass.project([(L.q, q), (L.k, k), (L.v, v)], h)
                pass.rope(q, heads: c.heads, theta: c.ropeTheta, adjacent: adjacent)
                pass.rope(k, heads: c.kvHeads, theta: c.ropeTheta, adjacent: adjacent)
                pass.attend(layer: l, q: q, k: k, v: v, out: att)
                pass.project([(L.o, tmp)], att)
                // As llama.cpp does, the last layer's feed-forward block runs only on the rows whose logits are
                // wanted: less work, and the batch sizes llama.cpp's kernels (and their float order) are chosen by.
                if l == c.layers - 1 && !pass.keepLogitRows([(x, C), (tmp, C)]) { return }
                pass.addRows(x, tmp, cols: C)
                pass.rmsNorm(x, L.ffnNorm, into: h, width: C)
                pass.project([(L.gate, gate), (L.up, up)], h)
                StepProfile.measure(.activation) { LlamaCppMath.swiglu(gate: gate, up: up, gate, pass.rows * F) }
                pass.project([(L.down, tmp)], gate)
                pass.addRows(x, tmp, cols: C)
            }
            pass.rmsNorm(x, outputNorm, into: h, width: C)
            pass.computeLogits(output, h)
        }
    }

    public static func inferenceNetwork(_ c: TransformerConfig, _ source: WeightSource) throws -> InferenceNetwork {
        try Network(c, source)
    }
}
