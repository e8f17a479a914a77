// InferenceModel: the weights of a decoder-only transformer laid out for inference.
//
// Matrices stay in the form they were stored in (a quantized GGUF stays quantized, mapped from the file);
// only norms and biases are copied out as Float32. One type serves GGUF Llama files and Forge's own
// GPT-2 and Llama model directories.
import ForgeCore
import ForgeKernels

/// How heads pair channels for rotary embedding.
public enum RoPEStyle: String, Sendable {
    /// Channel i with i + D/2 (Hugging Face Llama, Forge model dirs).
    case halves
    /// Channel 2i with 2i + 1 (GGUF Llama: llama.cpp's converter permutes Q and K rows to this).
    case adjacent
}

/// Shape and choices of a model for the inference engine.
public struct InferenceConfig: Sendable, Equatable {
    public enum Family: String, Sendable { case llama, gpt2 }
    public var family: Family
    public var vocabSize: Int
    public var contextLength: Int
    public var width: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var ffnWidth: Int
    public var normEps: Float
    public var ropeTheta: Float
    public var ropeStyle: RoPEStyle
    public var kvWidth: Int { kvHeads * headDim }
}

/// A norm's scale and optional bias (LayerNorm has one, RMSNorm not).
public struct NormWeights: Sendable {
    public var weight: [Float]
    public var bias: [Float]?
}

/// One transformer block. GPT-2 has biases and no gate; Llama has a gate and no biases.
public struct InferenceLayer: @unchecked Sendable {
    public var attentionNorm: NormWeights
    public var q, k, v, o: WeightMatrix
    public var qBias, kBias, vBias, oBias: [Float]?
    public var ffnNorm: NormWeights
    public var gate: WeightMatrix?
    public var up, down: WeightMatrix
    public var upBias, downBias: [Float]?
}

/// The whole model; `owner` keeps the memory the matrices point into alive (a mapped file, tensors).
public final class InferenceModel: @unchecked Sendable {
    public let config: InferenceConfig
    public let tokenEmbedding: WeightMatrix
    public let positionEmbedding: [Float]?
    public let layers: [InferenceLayer]
    public let outputNorm: NormWeights
    public let output: WeightMatrix
    /// Where the weights came from, for messages ("SmolLM2-135M-Instruct.Q4_1.gguf (llama, Q4_1)").
    public let summary: String
    let owner: AnyObject

    public init(config: InferenceConfig, tokenEmbedding: WeightMatrix, positionEmbedding: [Float]?, layers: [InferenceLayer],
                outputNorm: NormWeights, output: WeightMatrix, summary: String, owner: AnyObject) {
        self.config = config
        self.tokenEmbedding = tokenEmbedding
        self.positionEmbedding = positionEmbedding
        self.layers = layers
        self.outputNorm = outputNorm
        self.output = output
        self.summary = summary
        self.owner = owner
    }

    /// Bytes of weights read for one decoded token (every matrix once, one embedding row).
    public var bytesPerToken: Int {
        var n = output.rows * output.rowBytes + tokenEmbedding.rowBytes
        for l in layers {
            for m in [l.q, l.k, l.v, l.o, l.up, l.down] + (l.gate.map { [$0] } ?? []) { n += m.rows * m.rowBytes }
        }
        return n
    }
}
