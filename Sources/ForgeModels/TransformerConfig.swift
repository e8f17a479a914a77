// TransformerConfig: one description of GPT-2-style and Llama-style decoder-only models,
// read and written as a Hugging Face `config.json` with that family's own field names.
import ForgeCore
import Foundation

/// Shape and choices of a decoder-only transformer.
///
/// `gpt2`: LayerNorm with bias, learned positions, GELU (tanh) MLP, biases, tied embeddings.
/// `llama`: RMSNorm, RoPE, SwiGLU MLP, no biases, grouped-query attention, tied or untied head.
public struct TransformerConfig: Codable, Equatable, Sendable {
    public enum Architecture: String, Codable, Sendable, CaseIterable { case gpt2, llama }

    public var architecture: Architecture
    public var vocabSize: Int
    /// Longest sequence (GPT-2 `n_positions`, Llama `max_position_embeddings`).
    public var contextLength: Int
    /// Model width C (`n_embd` / `hidden_size`).
    public var width: Int
    public var layers: Int
    public var heads: Int
    /// Key/value heads (grouped-query attention); equal to `heads` for GPT-2.
    public var kvHeads: Int
    /// Hidden width of the MLP (`n_inner` / `intermediate_size`).
    public var ffnWidth: Int
    public var normEps: Float
    public var ropeTheta: Double
    public var tiedEmbeddings: Bool
    /// Standard deviation of the normal initialization (`initializer_range`).
    public var initStd: Float
    public var bosTokenId: Int?
    public var eosTokenId: Int?

    public init(architecture: Architecture, vocabSize: Int, contextLength: Int, width: Int, layers: Int, heads: Int,
                kvHeads: Int? = nil, ffnWidth: Int? = nil, normEps: Float? = nil, ropeTheta: Double = 10000,
                tiedEmbeddings: Bool = true, initStd: Float = 0.02, bosTokenId: Int? = nil, eosTokenId: Int? = nil) {
        self.architecture = architecture
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.width = width
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.ffnWidth = ffnWidth ?? (architecture == .gpt2 ? 4 * width : TransformerConfig.llamaFFN(width))
        self.normEps = normEps ?? (architecture == .gpt2 ? 1e-5 : 1e-5)
        self.ropeTheta = ropeTheta
        self.tiedEmbeddings = tiedEmbeddings
        self.initStd = initStd
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
    }

    /// Llama's MLP width: 8/3 of the model width rounded up to a multiple of 64.
    public static func llamaFFN(_ width: Int) -> Int { ((8 * width / 3) + 63) / 64 * 64 }

    public var headDim: Int { width / heads }

    /// Checks that the numbers describe a buildable model.
    public func validate() throws {
        func need(_ ok: Bool, _ msg: String) throws { if !ok { throw ForgeError("config: \(msg)") } }
        try need(vocabSize > 0 && contextLength > 0 && width > 0 && layers > 0 && heads > 0 && ffnWidth > 0,
                 "sizes must be positive")
        try need(width % heads == 0, "width \(width) is not a multiple of heads \(heads)")
        try need(kvHeads > 0 && heads % kvHeads == 0, "heads \(heads) is not a multiple of kv heads \(kvHeads)")
        try need(architecture == .gpt2 || headDim % 2 == 0, "RoPE needs an even head size, got \(headDim)")
        try need(architecture == .llama || kvHeads == heads, "GPT-2 style models have no grouped-query heads")
    }

    /// Parameters in the model (tied embeddings counted once).
    public var parameterCount: Int {
        let C = width, F = ffnWidth, kvW = kvHeads * headDim
        var perLayer: Int
        switch architecture {
        case .gpt2: perLayer = 2 * 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * F + F) + (F * C + C)
        case .llama: perLayer = 2 * C + C * C + 2 * C * kvW + C * C + 3 * C * F
        }
        var n = layers * perLayer + vocabSize * C + (architecture == .gpt2 ? 2 * C + contextLength * C : C)
        if !tiedEmbeddings { n += vocabSize * C }
        return n
    }

    /// Multiply-adds ×2 per token in the matrix products of the forward pass, plus attention at full context.
    public func forwardFLOPsPerToken(seq: Int) -> Double {
        let C = Double(width), F = Double(ffnWidth), kvW = Double(kvHeads * headDim)
        let proj = architecture == .gpt2 ? 4 * C * C + 2 * C * F : 2 * C * C + 2 * C * kvW + 3 * C * F
        let matrices = Double(layers) * proj + Double(vocabSize) * C
        let attention = Double(layers) * 2 * Double(seq) * C  // QKᵀ and PV, causal half of 2·T·C each
        return 2 * (matrices + attention)
    }

    // MARK: - Hugging Face config.json

    enum Keys: String, CodingKey {
        case model_type, architectures, vocab_size, n_positions, n_ctx, n_embd, n_layer, n_head, n_inner,
             activation_function, layer_norm_epsilon, initializer_range, tie_word_embeddings, bos_token_id, eos_token_id,
             hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
             max_position_embeddings, rms_norm_eps, rope_theta, hidden_act, attention_bias, mlp_bias, head_dim,
             torch_dtype
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let type = try c.decode(String.self, forKey: .model_type)
        guard let arch = Architecture(rawValue: type) else {
            throw ForgeError("config: unsupported model_type '\(type)' (Forge trains gpt2 and llama)")
        }
        switch arch {
        case .gpt2:
            let width = try c.decode(Int.self, forKey: .n_embd)
            self.init(architecture: .gpt2, vocabSize: try c.decode(Int.self, forKey: .vocab_size),
                      contextLength: try c.decode(Int.self, forKey: .n_positions), width: width,
                      layers: try c.decode(Int.self, forKey: .n_layer), heads: try c.decode(Int.self, forKey: .n_head),
                      ffnWidth: try c.decodeIfPresent(Int.self, forKey: .n_inner) ?? 4 * width,
                      normEps: try c.decodeIfPresent(Float.self, forKey: .layer_norm_epsilon) ?? 1e-5,
                      tiedEmbeddings: try c.decodeIfPresent(Bool.self, forKey: .tie_word_embeddings) ?? true,
                      initStd: try c.decodeIfPresent(Float.self, forKey: .initializer_range) ?? 0.02,
                      bosTokenId: try c.decodeIfPresent(Int.self, forKey: .bos_token_id),
                      eosTokenId: try c.decodeIfPresent(Int.self, forKey: .eos_token_id))
            if let act = try c.decodeIfPresent(String.self, forKey: .activation_function), act != "gelu_new", act != "gelu_pytorch_tanh" {
                throw ForgeError("config: activation_function '\(act)' is not supported (gelu_new)")
            }
        case .llama:
            let heads = try c.decode(Int.self, forKey: .num_attention_heads)
            self.init(architecture: .llama, vocabSize: try c.decode(Int.self, forKey: .vocab_size),
                      contextLength: try c.decode(Int.self, forKey: .max_position_embeddings),
                      width: try c.decode(Int.self, forKey: .hidden_size),
                      layers: try c.decode(Int.self, forKey: .num_hidden_layers), heads: heads,
                      kvHeads: try c.decodeIfPresent(Int.self, forKey: .num_key_value_heads) ?? heads,
                      ffnWidth: try c.decode(Int.self, forKey: .intermediate_size),
                      normEps: try c.decodeIfPresent(Float.self, forKey: .rms_norm_eps) ?? 1e-6,
                      ropeTheta: try c.decodeIfPresent(Double.self, forKey: .rope_theta) ?? 10000,
                      tiedEmbeddings: try c.decodeIfPresent(Bool.self, forKey: .tie_word_embeddings) ?? false,
                      initStd: try c.decodeIfPresent(Float.self, forKey: .initializer_range) ?? 0.02,
                      bosTokenId: try c.decodeIfPresent(Int.self, forKey: .bos_token_id),
                      eosTokenId: try c.decodeIfPresent(Int.self, forKey: .eos_token_id))
            if let act = try c.decodeIfPresent(String.self, forKey: .hidden_act), act != "silu" {
                throw ForgeError("config: hidden_act '\(act)' is not supported (silu)")
            }
            if try c.decodeIfPresent(Bool.self, forKey: .attention_bias) == true || c.decodeIfPresent(Bool.self, forKey: .mlp_bias) == true {
                throw ForgeError("config: attention_bias / mlp_bias are not supported")
            }
            if let hd = try c.decodeIfPresent(Int.self, forKey: .head_dim), hd != width / heads {
                throw ForgeError("config: head_dim \(hd) differs from hidden_size / num_attention_heads")
            }
        }
        try validate()
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(architecture.rawValue, forKey: .model_type)
        try c.encode(vocabSize, forKey: .vocab_size)
        try c.encode(initStd, forKey: .initializer_range)
        try c.encode(tiedEmbeddings, forKey: .tie_word_embeddings)
        try c.encodeIfPresent(bosTokenId, forKey: .bos_token_id)
        try c.encodeIfPresent(eosTokenId, forKey: .eos_token_id)
        try c.encode("float32", forKey: .torch_dtype)
        switch architecture {
        case .gpt2:
            try c.encode(["GPT2LMHeadModel"], forKey: .architectures)
            try c.encode(contextLength, forKey: .n_positions)
            try c.encode(contextLength, forKey: .n_ctx)
            try c.encode(width, forKey: .n_embd)
            try c.encode(layers, forKey: .n_layer)
            try c.encode(heads, forKey: .n_head)
            try c.encode(ffnWidth, forKey: .n_inner)
            try c.encode("gelu_new", forKey: .activation_function)
            try c.encode(normEps, forKey: .layer_norm_epsilon)
        case .llama:
            try c.encode(["LlamaForCausalLM"], forKey: .architectures)
            try c.encode(width, forKey: .hidden_size)
            try c.encode(ffnWidth, forKey: .intermediate_size)
            try c.encode(layers, forKey: .num_hidden_layers)
            try c.encode(heads, forKey: .num_attention_heads)
            try c.encode(kvHeads, forKey: .num_key_value_heads)
            try c.encode(headDim, forKey: .head_dim)
            try c.encode(contextLength, forKey: .max_position_embeddings)
            try c.encode(normEps, forKey: .rms_norm_eps)
            try c.encode(ropeTheta, forKey: .rope_theta)
            try c.encode("silu", forKey: .hidden_act)
            try c.encode(false, forKey: .attention_bias)
            try c.encode(false, forKey: .mlp_bias)
        }
    }
}
