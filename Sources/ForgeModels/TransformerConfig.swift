// TransformerConfig: the numbers that describe a decoder-only transformer of any family Forge knows.
// Each family's file reads and writes its own Hugging Face and GGUF keys into this one struct; the
// trainer, the engine and checkpoints see only this.
import ForgeCore
import Foundation

/// Shape and choices of a decoder-only transformer (which family, sizes, norms, positions, attention).
public struct TransformerConfig: Codable, Equatable, Sendable {
    public var architecture: Architecture
    public var vocabSize: Int
    /// Longest sequence (GPT-2 `n_positions`, Llama `max_position_embeddings`).
    public var contextLength: Int
    /// Model width C.
    public var width: Int
    public var layers: Int
    public var heads: Int
    /// Key/value heads (grouped-query attention); equal to `heads` for GPT-2.
    public var kvHeads: Int
    /// Size of one head D (C/H unless the family says otherwise, as Gemma does).
    public var headDim: Int
    /// Hidden width of the MLP.
    public var ffnWidth: Int
    public var normEps: Float
    /// RoPE base (of the global layers, when they differ).
    public var ropeTheta: Double
    /// RoPE base of the sliding-window layers (Gemma 3: 10 000); nil: `ropeTheta`.
    public var ropeLocalTheta: Double?
    /// How far a sliding-window layer looks back: a query at p sees keys p − window < j ≤ p; nil: no window.
    public var slidingWindow: Int?
    /// With a window, every `slidingWindowPattern`-th layer is global (Gemma 3: 6); nil: every layer slides.
    public var slidingWindowPattern: Int?
    /// Scale of attention scores; nil: 1/√D (Gemma 3: query_pre_attn_scalar^−½).
    public var attentionScale: Float?
    public var tiedEmbeddings: Bool
    /// Standard deviation of the normal initialization (`initializer_range`).
    public var initStd: Float
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    /// Encoders (BERT): rows of the token-type table (nil for decoders).
    public var typeVocabSize: Int?
    /// Encoders (BERT): whether the model carries the masked-language-model head (`cls.predictions.*`).
    public var maskedLMHead: Bool?

    public init(architecture: Architecture, vocabSize: Int, contextLength: Int, width: Int, layers: Int, heads: Int,
                kvHeads: Int? = nil, headDim: Int? = nil, ffnWidth: Int? = nil, normEps: Float? = nil, ropeTheta: Double = 10000,
                ropeLocalTheta: Double? = nil, slidingWindow: Int? = nil, slidingWindowPattern: Int? = nil,
                attentionScale: Float? = nil, tiedEmbeddings: Bool = true, initStd: Float = 0.02,
                bosTokenId: Int? = nil, eosTokenId: Int? = nil) {
        self.architecture = architecture
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.width = width
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.headDim = headDim ?? (heads > 0 ? width / heads : 0)
        self.ffnWidth = ffnWidth ?? (architecture == .gpt2 ? 4 * width : TransformerConfig.llamaFFN(width))
        self.normEps = normEps ?? (architecture == .gemma3 ? 1e-6 : 1e-5)
        self.ropeTheta = ropeTheta
        self.ropeLocalTheta = ropeLocalTheta
        self.slidingWindow = slidingWindow
        self.slidingWindowPattern = slidingWindowPattern
        self.attentionScale = attentionScale
        self.tiedEmbeddings = tiedEmbeddings
        self.initStd = initStd
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
    }

    /// Llama's MLP width: 8/3 of the model width rounded up to a multiple of 64.
    public static func llamaFFN(_ width: Int) -> Int { ((8 * width / 3) + 63) / 64 * 64 }

    /// The family's definition.
    public var family: any ModelArchitecture.Type { get throws { try architecture.definition } }

    /// Width of the query projection (H·D) and of the key/value projections (G·D).
    public var qWidth: Int { heads * headDim }
    public var kvWidth: Int { kvHeads * headDim }

    /// Whether layer `l` attends through a sliding window.
    public func isSliding(_ l: Int) -> Bool {
        guard slidingWindow != nil else { return false }
        guard let p = slidingWindowPattern, p > 0 else { return true }
        return (l + 1) % p != 0
    }

    /// The window of layer `l` (nil: the whole context).
    public func window(_ l: Int) -> Int? { isSliding(l) ? slidingWindow : nil }

    /// The RoPE base of layer `l`.
    public func ropeBase(_ l: Int) -> Double { isSliding(l) ? (ropeLocalTheta ?? ropeTheta) : ropeTheta }

    /// The scale applied to attention scores.
    public var scoreScale: Float { attentionScale ?? 1 / Float(headDim).squareRoot() }

    /// Checks that the numbers describe a model that can be built here; the error names the field.
    public func validate() throws {
        func need(_ ok: Bool, _ msg: String) throws { if !ok { throw ForgeError("config: \(msg)") } }
        let family = try self.family
        for (name, value, range) in [("vocabSize", vocabSize, ConfigLimits.vocab), ("contextLength", contextLength, ConfigLimits.context),
                                     ("width", width, ConfigLimits.width), ("layers", layers, ConfigLimits.layers),
                                     ("heads", heads, ConfigLimits.heads), ("kvHeads", kvHeads, ConfigLimits.heads),
                                     ("headDim", headDim, ConfigLimits.headDim), ("ffnWidth", ffnWidth, ConfigLimits.ffn)] {
            try need(range.contains(value), "\(name) must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
        try need(heads % kvHeads == 0, "heads \(heads) is not a multiple of kvHeads \(kvHeads)")
        try need(normEps > 0 && normEps.isFinite, "normEps must be positive, got \(normEps)")
        try need(ropeTheta >= 1 && ropeTheta.isFinite, "ropeTheta must be ≥ 1, got \(ropeTheta)")
        try need((ropeLocalTheta ?? 1) >= 1 && (ropeLocalTheta ?? 1).isFinite, "ropeLocalTheta must be ≥ 1")
        try need((slidingWindow ?? 1) >= 1, "slidingWindow must be ≥ 1, got \(slidingWindow ?? 0)")
        try need((slidingWindowPattern ?? 1) >= 1, "slidingWindowPattern must be ≥ 1")
        try need(attentionScale.map { $0 > 0 && $0.isFinite } ?? true, "attentionScale must be positive")
        try need(initStd >= 0 && initStd.isFinite, "initStd must be ≥ 0")
        try need((bosTokenId ?? 0) >= 0 && (bosTokenId ?? 0) < vocabSize, "bosTokenId \(bosTokenId ?? 0) is outside the vocabulary")
        try need((eosTokenId ?? 0) >= 0 && (eosTokenId ?? 0) < vocabSize, "eosTokenId \(eosTokenId ?? 0) is outside the vocabulary")
        try family.validate(self)
    }

    /// Refuses, before anything is allocated, a model whose Float32 parameters could not fit in this machine's memory
    /// (a training model, or a model dir read in Float32; a quantized GGUF runs in its stored size).
    public func checkFitsInMemory() throws {
        let bytes = Double(parameterCount) * 4
        let memory = Double(ProcessInfo.processInfo.physicalMemory)
        guard bytes <= memory else {
            throw ForgeError(String(format: "config: %.3g parameters need %.1f GiB in Float32; this machine has %.1f GiB",
                                    Double(parameterCount), bytes / 1073741824, memory / 1073741824))
        }
    }

    /// Parameters in the model (tied embeddings counted once).
    public var parameterCount: Int {
        guard let family = try? family else { return 0 }
        // Multiplied in Double so that absurd sizes report a large number instead of overflowing.
        return Int(min(9e18, family.parameters(self).reduce(0.0) { $0 + $1.shape.reduce(1.0) { $0 * Double($1) } }))
    }

    /// Multiply-adds ×2 per token in the matrix products of the forward pass, plus attention at full context.
    public func forwardFLOPsPerToken(seq: Int) -> Double {
        guard let family = try? family else { return 0 }
        var matrices = family.parameters(self).filter(\.decays).reduce(0.0) { $0 + Double($1.elementCount) }
        if tiedEmbeddings { matrices += Double(vocabSize * width) }
        let attention = Double(layers) * 2 * Double(seq) * Double(qWidth)  // QKᵀ and PV, causal half of 2·T·H·D each
        return 2 * (matrices + attention)
    }
}
