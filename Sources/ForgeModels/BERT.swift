// BERT: the bidirectional encoder. Learned positions and token types added to the word embeddings and
// normalized, then post-norm blocks (attention over every unpadded key, residual, LayerNorm; exact-GELU MLP,
// residual, LayerNorm). No causal mask: a right-padded batch masks each sequence's padding keys. The optional
// masked-language-model head (dense, GELU, LayerNorm, tied decoder with a bias) serves `--objective mlm`.
// Sentence embeddings (mean pooling, normalization) are built on `hidden` by ForgeRetrieval's callers.
import ForgeAutograd
import ForgeCore
import ForgeKernels

extension Architecture {
    public static let bert: Architecture = "bert"
}

public enum BERT: ModelArchitecture {
    public static let name = "bert"
    public static let modelTypes = ["bert"]
    public static let ggufName: String? = nil

    // MARK: - Config

    public static func config(huggingFace k: ConfigKeys) throws -> TransformerConfig {
        try k.require("hidden_act", oneOf: ["gelu"])
        if let p = try k.string("position_embedding_type"), p != "absolute" {
            throw ForgeError("position_embedding_type '\(p)' is not supported (absolute is)")
        }
        let width = try k.int("hidden_size", ConfigLimits.width)
        let heads = try k.int("num_attention_heads", ConfigLimits.heads)
        guard width % heads == 0 else { throw ForgeError("hidden_size \(width) is not a multiple of num_attention_heads \(heads)") }
        let vocab = try k.int("vocab_size", ConfigLimits.vocab)
        var c = TransformerConfig(
            architecture: .bert, vocabSize: vocab, contextLength: try k.int("max_position_embeddings", ConfigLimits.context),
            width: width, layers: try k.int("num_hidden_layers", ConfigLimits.layers), heads: heads,
            ffnWidth: try k.int("intermediate_size", ConfigLimits.ffn),
            normEps: Float(try k.double("layer_norm_eps", ConfigLimits.eps, default: 1e-12)), tiedEmbeddings: true,
            initStd: Float(try k.double("initializer_range", 0...1, default: 0.02)))
        c.typeVocabSize = try k.int("type_vocab_size", 1...1024, default: 2)
        let architectures = k.values["architectures"] as? [String] ?? []
        c.maskedLMHead = architectures.contains { $0 == "BertForMaskedLM" || $0 == "BertForPreTraining" }
        return c
    }

    public static func huggingFaceConfig(_ c: TransformerConfig) -> [String: Any] {
        ["model_type": "bert", "architectures": [c.maskedLMHead == true ? "BertForMaskedLM" : "BertModel"], "vocab_size": c.vocabSize,
         "hidden_size": c.width, "num_hidden_layers": c.layers, "num_attention_heads": c.heads, "intermediate_size": c.ffnWidth,
         "hidden_act": "gelu", "max_position_embeddings": c.contextLength, "type_vocab_size": c.typeVocabSize ?? 2,
         "layer_norm_eps": c.normEps, "initializer_range": c.initStd, "position_embedding_type": "absolute",
         "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "pad_token_id": 0, "torch_dtype": "float32"]
    }

    public static func config(gguf k: ConfigKeys, vocabSize: Int) throws -> TransformerConfig {
        throw ForgeError("BERT encoders are read from Hugging Face model dirs, not GGUF files")
    }

    public static func validate(_ c: TransformerConfig) throws {
        guard c.kvHeads == c.heads, c.headDim * c.heads == c.width, c.attentionScale == nil else {
            throw ForgeError("config: BERT has no grouped-query heads, D = C/H and scores scaled by 1/√D")
        }
        guard c.slidingWindow == nil else { throw ForgeError("config: BERT attends over the whole sequence (no sliding window)") }
    }

    /// The position-ids buffer, the pooler (sentence embeddings pool the hidden states instead), the next-sentence head
    /// and the decoder copies of the tied embedding and its bias.
    public static func ignoresTensor(_ name: String) -> Bool {
        name.hasSuffix("embeddings.position_ids") || name.hasPrefix("pooler.") || name.hasPrefix("bert.pooler.")
            || name.hasPrefix("cls.seq_relationship.") || name == "cls.predictions.decoder.weight" || name == "cls.predictions.decoder.bias"
    }

    // MARK: - Parameters

    public static func parameters(_ c: TransformerConfig) -> [ParameterSpec] {
        let C = c.width, F = c.ffnWidth
        var out: [ParameterSpec] = [
            .embedding("embeddings.word_embeddings.weight", c.vocabSize, C, gguf: nil),
            .embedding("embeddings.position_embeddings.weight", c.contextLength, C, gguf: nil),
            .embedding("embeddings.token_type_embeddings.weight", c.typeVocabSize ?? 2, C, gguf: nil),
            .vector("embeddings.LayerNorm.weight", C, initial: 1, gguf: nil), .vector("embeddings.LayerNorm.bias", C, initial: 0, gguf: nil),
        ]
        for l in 0..<c.layers {
            let p = "encoder.layer.\(l)."
            for m in ["query", "key", "value"] {
                out += [.matrix(p + "attention.self.\(m).weight", C, C, gguf: nil), .vector(p + "attention.self.\(m).bias", C, initial: 0, gguf: nil)]
            }
            out += [.matrix(p + "attention.output.dense.weight", C, C, gguf: nil),
                    .vector(p + "attention.output.dense.bias", C, initial: 0, gguf: nil),
                    .vector(p + "attention.output.LayerNorm.weight", C, initial: 1, gguf: nil),
                    .vector(p + "attention.output.LayerNorm.bias", C, initial: 0, gguf: nil),
                    .matrix(p + "intermediate.dense.weight", F, C, gguf: nil), .vector(p + "intermediate.dense.bias", F, initial: 0, gguf: nil),
                    .matrix(p + "output.dense.weight", C, F, gguf: nil), .vector(p + "output.dense.bias", C, initial: 0, gguf: nil),
                    .vector(p + "output.LayerNorm.weight", C, initial: 1, gguf: nil), .vector(p + "output.LayerNorm.bias", C, initial: 0, gguf: nil)]
        }
        if c.maskedLMHead == true {
            out += [.matrix("cls.predictions.transform.dense.weight", C, C, gguf: nil),
                    .vector("cls.predictions.transform.dense.bias", C, initial: 0, gguf: nil),
                    .vector("cls.predictions.transform.LayerNorm.weight", C, initial: 1, gguf: nil),
                    .vector("cls.predictions.transform.LayerNorm.bias", C, initial: 0, gguf: nil),
                    .vector("cls.predictions.bias", c.vocabSize, initial: 0, gguf: nil)]
        }
        return out
    }

    // MARK: - Forward

    public static func outputWeight(_ m: Transformer) -> Variable { m.parameter("embeddings.word_embeddings.weight") }

    /// The last block's hidden states [B·T, C] (BERT's output has no final norm beyond the blocks' own). Padded rows
    /// (beyond `layout.lengths`) are computed but see no padding keys; their values are not meaningful.
    public static func hidden(_ m: Transformer, _ tape: Tape, tokens: [Int32], layout: TokenLayout) -> Variable {
        let c = m.config
        var x = tape.add(m.embedding(tape, "embeddings.word_embeddings.weight", ids: tokens),
                         m.embedding(tape, "embeddings.position_embeddings.weight", ids: layout.rowPositions))
        x = tape.add(x, m.embedding(tape, "embeddings.token_type_embeddings.weight", ids: [Int32](repeating: 0, count: tokens.count)))
        x = tape.layerNorm(x, weight: m.parameter("embeddings.LayerNorm.weight"), bias: m.parameter("embeddings.LayerNorm.bias"), eps: c.normEps)
        for l in 0..<c.layers {
            let p = "encoder.layer.\(l).", a = p + "attention."
            var shape = m.attentionShape(layout: layout, layer: l)
            shape.causal = false
            x = m.block(tape, x) { tape, x in
                let q = m.linear(tape, x, a + "self.query.weight", bias: a + "self.query.bias")
                let k = m.linear(tape, x, a + "self.key.weight", bias: a + "self.key.bias")
                let v = m.linear(tape, x, a + "self.value.weight", bias: a + "self.value.bias")
                let att = tape.attention(q: q, k: k, v: v, shape: shape)
                let x1 = tape.layerNorm(tape.add(x, m.linear(tape, att, a + "output.dense.weight", bias: a + "output.dense.bias")),
                                        weight: m.parameter(a + "output.LayerNorm.weight"), bias: m.parameter(a + "output.LayerNorm.bias"),
                                        eps: c.normEps)
                let f = tape.geluErf(m.linear(tape, x1, p + "intermediate.dense.weight", bias: p + "intermediate.dense.bias"))
                return tape.layerNorm(tape.add(x1, m.linear(tape, f, p + "output.dense.weight", bias: p + "output.dense.bias")),
                                      weight: m.parameter(p + "output.LayerNorm.weight"), bias: m.parameter(p + "output.LayerNorm.bias"),
                                      eps: c.normEps)
            }
        }
        return x
    }

    /// The masked-language-model head on hidden rows [K, C]: logits [K, V] (transform, then the tied decoder and its bias).
    public static func maskedLMLogits(_ m: Transformer, _ tape: Tape, _ h: Variable) -> Variable {
        precondition(m.config.maskedLMHead == true, "the model has no masked-language-model head")
        let t = tape.geluErf(m.linear(tape, h, "cls.predictions.transform.dense.weight", bias: "cls.predictions.transform.dense.bias"))
        let n = tape.layerNorm(t, weight: m.parameter("cls.predictions.transform.LayerNorm.weight"),
                               bias: m.parameter("cls.predictions.transform.LayerNorm.bias"), eps: m.config.normEps)
        return m.linear(tape, n, "embeddings.word_embeddings.weight", bias: "cls.predictions.bias")
    }

    public static func inferenceNetwork(_ c: TransformerConfig, _ source: WeightSource) throws -> InferenceNetwork {
        throw ForgeError("BERT is an encoder: it embeds text (forge embed) and does not generate")
    }
}
