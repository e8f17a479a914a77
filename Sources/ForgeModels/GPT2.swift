// GPT-2: LayerNorm with bias, learned positions, one Q/K/V matrix with bias, GELU (tanh) MLP with biases,
// tied embeddings. Hugging Face stores its matrices [in, out] (Conv1D); Forge and GGUF store [out, in].
import ForgeAutograd
import ForgeCore
import ForgeKernels

extension Architecture {
    public static let gpt2: Architecture = "gpt2"
}

public enum GPT2: ModelArchitecture {
    public static let name = "gpt2"
    public static let modelTypes = ["gpt2"]
    public static let ggufName: String? = "gpt2"

    // MARK: - Config

    public static func config(huggingFace k: ConfigKeys) throws -> TransformerConfig {
        try k.require("activation_function", oneOf: ["gelu_new", "gelu_pytorch_tanh"])
        let width = try k.int("n_embd", ConfigLimits.width)
        let heads = try k.int("n_head", ConfigLimits.heads)
        guard width % heads == 0 else { throw ForgeError("n_embd \(width) is not a multiple of n_head \(heads)") }
        let vocab = try k.int("vocab_size", ConfigLimits.vocab)
        return TransformerConfig(
            architecture: .gpt2, vocabSize: vocab, contextLength: try k.int("n_positions", ConfigLimits.context), width: width,
            layers: try k.int("n_layer", ConfigLimits.layers), heads: heads,
            ffnWidth: try k.int("n_inner", ConfigLimits.ffn, default: 4 * width),
            normEps: Float(try k.double("layer_norm_epsilon", ConfigLimits.eps, default: 1e-5)),
            tiedEmbeddings: try k.bool("tie_word_embeddings", default: true),
            initStd: Float(try k.double("initializer_range", 0...1, default: 0.02)),
            bosTokenId: try k.tokenId("bos_token_id", vocab: vocab), eosTokenId: try k.tokenId("eos_token_id", vocab: vocab))
    }

    public static func huggingFaceConfig(_ c: TransformerConfig) -> [String: Any] {
        var d: [String: Any] = [
            "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": c.vocabSize, "n_positions": c.contextLength,
            "n_ctx": c.contextLength, "n_embd": c.width, "n_layer": c.layers, "n_head": c.heads, "n_inner": c.ffnWidth,
            "activation_function": "gelu_new", "layer_norm_epsilon": c.normEps, "initializer_range": c.initStd,
            "tie_word_embeddings": c.tiedEmbeddings, "torch_dtype": "float32",
        ]
        d["bos_token_id"] = c.bosTokenId
        d["eos_token_id"] = c.eosTokenId
        return d
    }

    public static func config(gguf k: ConfigKeys, vocabSize: Int) throws -> TransformerConfig {
        let width = try k.int("embedding_length", ConfigLimits.width), heads = try k.int("attention.head_count", ConfigLimits.heads)
        guard width % heads == 0 else { throw ForgeError("\(k.prefix)embedding_length \(width) is not a multiple of \(k.prefix)attention.head_count \(heads)") }
        return TransformerConfig(
            architecture: .gpt2, vocabSize: vocabSize, contextLength: try k.int("context_length", ConfigLimits.context), width: width,
            layers: try k.int("block_count", ConfigLimits.layers), heads: heads,
            ffnWidth: try k.int("feed_forward_length", ConfigLimits.ffn),
            normEps: Float(try k.double("attention.layer_norm_epsilon", ConfigLimits.eps, default: 1e-5)))
    }

    public static func ggufMetadata(_ c: TransformerConfig) throws -> [(String, GGUFTypedValue)] {
        [("gpt2.context_length", .u32(UInt32(c.contextLength))), ("gpt2.embedding_length", .u32(UInt32(c.width))),
         ("gpt2.feed_forward_length", .u32(UInt32(c.ffnWidth))), ("gpt2.block_count", .u32(UInt32(c.layers))),
         ("gpt2.attention.head_count", .u32(UInt32(c.heads))), ("gpt2.attention.layer_norm_epsilon", .f32(c.normEps))]
    }

    public static func validate(_ c: TransformerConfig) throws {
        guard c.kvHeads == c.heads, c.headDim * c.heads == c.width else {
            throw ForgeError("config: GPT-2 style models have no grouped-query heads and D = C/H")
        }
    }

    // MARK: - Parameters

    public static func parameters(_ c: TransformerConfig) -> [ParameterSpec] {
        let C = c.width, F = c.ffnWidth
        var out: [ParameterSpec] = [.embedding("wte.weight", c.vocabSize, C, gguf: "token_embd.weight"),
                                    .embedding("wpe.weight", c.contextLength, C, gguf: "position_embd.weight")]
        for l in 0..<c.layers {
            let p = "h.\(l).", g = "blk.\(l)."
            out += [.vector(p + "ln_1.weight", C, initial: 1, gguf: g + "attn_norm.weight"),
                    .vector(p + "ln_1.bias", C, initial: 0, gguf: g + "attn_norm.bias"),
                    .matrix(p + "attn.c_attn.weight", 3 * C, C, gguf: g + "attn_qkv.weight", transposedInHF: true),
                    .vector(p + "attn.c_attn.bias", 3 * C, initial: 0, gguf: g + "attn_qkv.bias"),
                    .matrix(p + "attn.c_proj.weight", C, C, gguf: g + "attn_output.weight", residual: true, transposedInHF: true),
                    .vector(p + "attn.c_proj.bias", C, initial: 0, gguf: g + "attn_output.bias"),
                    .vector(p + "ln_2.weight", C, initial: 1, gguf: g + "ffn_norm.weight"),
                    .vector(p + "ln_2.bias", C, initial: 0, gguf: g + "ffn_norm.bias"),
                    .matrix(p + "mlp.c_fc.weight", F, C, gguf: g + "ffn_up.weight", transposedInHF: true),
                    .vector(p + "mlp.c_fc.bias", F, initial: 0, gguf: g + "ffn_up.bias"),
                    .matrix(p + "mlp.c_proj.weight", C, F, gguf: g + "ffn_down.weight", residual: true, transposedInHF: true),
                    .vector(p + "mlp.c_proj.bias", C, initial: 0, gguf: g + "ffn_down.bias")]
        }
        out += [.vector("ln_f.weight", C, initial: 1, gguf: "output_norm.weight"),
                .vector("ln_f.bias", C, initial: 0, gguf: "output_norm.bias")]
        if !c.tiedEmbeddings { out.append(.matrix("lm_head.weight", c.vocabSize, C, gguf: "output.weight")) }
        return out
    }

    // MARK: - Training forward

    public static func outputWeight(_ m: Transformer) -> Variable {
        m.parameter(m.config.tiedEmbeddings ? "wte.weight" : "lm_head.weight")
    }

    public static func hidden(_ m: Transformer, _ tape: Tape, tokens: [Int32], layout: TokenLayout) -> Variable {
        let c = m.config, C = c.width
        let positions = layout.rowPositions
        var x = tape.add(m.embedding(tape, "wte.weight", ids: tokens),
                         m.embedding(tape, "wpe.weight", ids: positions))                       // N×C
        for l in 0..<c.layers {
            let p = "h.\(l).", shape = m.attentionShape(layout: layout, layer: l)
            x = m.block(tape, x) { tape, x in
                let h = tape.layerNorm(x, weight: m.parameter(p + "ln_1.weight"), bias: m.parameter(p + "ln_1.bias"), eps: c.normEps)
                let qkv = tape.split(m.linear(tape, h, p + "attn.c_attn.weight", bias: p + "attn.c_attn.bias"), [C, C, C])  // 3 × N×C
                let a = tape.attention(q: qkv[0], k: qkv[1], v: qkv[2], shape: shape)                    // N×C
                let x1 = tape.add(x, m.linear(tape, a, p + "attn.c_proj.weight", bias: p + "attn.c_proj.bias"))
                let h2 = tape.layerNorm(x1, weight: m.parameter(p + "ln_2.weight"), bias: m.parameter(p + "ln_2.bias"), eps: c.normEps)
                let f = tape.gelu(m.linear(tape, h2, p + "mlp.c_fc.weight", bias: p + "mlp.c_fc.bias"))  // N×F
                return tape.add(x1, m.linear(tape, f, p + "mlp.c_proj.weight", bias: p + "mlp.c_proj.bias"))
            }
        }
        return tape.layerNorm(x, weight: m.parameter("ln_f.weight"), bias: m.parameter("ln_f.bias"), eps: c.normEps)
    }

    // MARK: - Inference forward

    final class Network: InferenceNetwork {
        struct Layer {
            var norm1w, norm1b, norm2w, norm2b: [Float]
            var q, k, v, o, up, down: Projection
            var qBias, kBias, vBias, oBias, upBias, downBias: [Float]
        }
        let config: TransformerConfig
        let embedding: WeightMatrix
        let positions: [Float]
        let layers: [Layer]
        let outputNormW, outputNormB: [Float]
        let output: Projection

        init(_ c: TransformerConfig, _ w: WeightSource) throws {
            config = c
            let C = c.width
            embedding = try w.matrix("wte.weight", packed: false)
            positions = try w.vector("wpe.weight")
            layers = try (0..<c.layers).map { l in
                let p = "h.\(l).", qkv = p + "attn.c_attn."
                return Layer(norm1w: try w.vector(p + "ln_1.weight"), norm1b: try w.vector(p + "ln_1.bias"),
                             norm2w: try w.vector(p + "ln_2.weight"), norm2b: try w.vector(p + "ln_2.bias"),
                             q: try w.projection(qkv + "weight", rows: 0..<C), k: try w.projection(qkv + "weight", rows: C..<(2 * C)),
                             v: try w.projection(qkv + "weight", rows: (2 * C)..<(3 * C)),
                             o: try w.projection(p + "attn.c_proj.weight"), up: try w.projection(p + "mlp.c_fc.weight"),
                             down: try w.projection(p + "mlp.c_proj.weight"),
                             qBias: try w.vector(qkv + "bias", range: 0..<C), kBias: try w.vector(qkv + "bias", range: C..<(2 * C)),
                             vBias: try w.vector(qkv + "bias", range: (2 * C)..<(3 * C)), oBias: try w.vector(p + "attn.c_proj.bias"),
                             upBias: try w.vector(p + "mlp.c_fc.bias"), downBias: try w.vector(p + "mlp.c_proj.bias"))
            }
            outputNormW = try w.vector("ln_f.weight")
            outputNormB = try w.vector("ln_f.bias")
            output = c.tiedEmbeddings ? Projection(embedding.packedForDecode(), "wte.weight") : try w.projection("lm_head.weight")
        }

        var matrices: [WeightMatrix] { layers.flatMap { [$0.q, $0.k, $0.v, $0.o, $0.up, $0.down].map(\.matrix) } + [output.matrix] }

        func forward(_ pass: ForwardPass) {
            let c = config, T = pass.rows, C = c.width, F = c.ffnWidth
            let x = pass.floats(T * C), h = pass.floats(T * C), q = pass.floats(T * C), k = pass.floats(T * C), v = pass.floats(T * C)
            let att = pass.floats(T * C), tmp = pass.floats(T * C), up = pass.floats(T * F)
            pass.embed(embedding, into: x)
            pass.addPositions(positions, to: x, cols: C)
            for (l, L) in layers.enumerated() {
                pass.layerNorm(x, L.norm1w, L.norm1b, into: h)
                pass.project([(L.q, q), (L.k, k), (L.v, v)], h)
                pass.addBias(L.qBias, q, cols: C)
                pass.addBias(L.kBias, k, cols: C)
                pass.addBias(L.vBias, v, cols: C)
                pass.attend(layer: l, q: q, k: k, v: v, out: att)
                pass.project([(L.o, tmp)], att)
                pass.addBias(L.oBias, tmp, cols: C)
                if l == c.layers - 1 && !pass.keepLogitRows([(x, C), (tmp, C)]) { return }
                pass.addRows(x, tmp, cols: C)
                pass.layerNorm(x, L.norm2w, L.norm2b, into: h)
                pass.project([(L.up, up)], h)
                pass.addBias(L.upBias, up, cols: F)
                StepProfile.measure(.activation) { Activations.geluForward(up, up, pass.rows * F) }
                pass.project([(L.down, tmp)], up)
                pass.addBias(L.downBias, tmp, cols: C)
                pass.addRows(x, tmp, cols: C)
            }
            pass.layerNorm(x, outputNormW, outputNormB, into: h)
            pass.computeLogits(output, h)
        }
    }

    public static func inferenceNetwork(_ c: TransformerConfig, _ source: WeightSource) throws -> InferenceNetwork {
        try Network(c, source)
    }
}
