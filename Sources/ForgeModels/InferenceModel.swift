// InferenceModel: a model laid out for the inference engine: the family's network (its weights in their
// stored types, prepared once) and what the engine needs to know about it.
import ForgeCore
import ForgeKernels

/// A family's weights prepared for inference, and its forward over a batch.
public protocol InferenceNetwork: AnyObject {
    /// Runs the pass's rows through the model, writing the logits of the rows that want them.
    func forward(_ pass: ForwardPass)
    /// Every matrix a decoded token multiplies (for the bytes-per-token floor and summaries).
    var matrices: [WeightMatrix] { get }
    /// The token embedding (one row is read per token).
    var embedding: WeightMatrix { get }
}

/// A model the engine runs; `owner` keeps the memory the matrices point into alive (a mapped file, tensors).
public final class InferenceModel: @unchecked Sendable {
    public let config: TransformerConfig
    public let network: InferenceNetwork
    /// Where the weights came from, for messages ("SmolLM2-135M-Instruct.Q4_1.gguf (llama, 30 layers, Q4_1/Q8_0)").
    public let summary: String
    /// Adapters applied at inference by projection weight name (LoRA without merging).
    public var adapters: [String: InferenceAdapter] = [:]
    /// The float order of short batches' integer products (`ProductOrder`): block sums by default, llama.cpp's to
    /// reproduce its logits bit for bit.
    public var productOrder: ProductOrder = .standard
    /// Whether a decoded token may run as one worker region rather than a hand-off per step (the same floats).
    public var decodeRegions = ForwardPass.regionsByDefault
    let owner: AnyObject

    public init(config: TransformerConfig, network: InferenceNetwork, source: String, owner: AnyObject) {
        self.config = config
        self.network = network
        self.owner = owner
        let types = Set(network.matrices.map { "\($0.type)".uppercased() }).sorted()
        summary = "\(source) (\(config.architecture), \(config.layers) layers, \(types.joined(separator: "/")))"
    }

    /// The inference form of `family` over `source`'s weights.
    public convenience init(config: TransformerConfig, source: WeightSource) throws {
        let family = try config.family
        try self.init(config: config, network: family.inferenceNetwork(config, source), source: source.description,
                      owner: source.owner)
    }

    /// A trained model as an inference model, in memory: the matrices are views of its tensors (Float32).
    public convenience init(_ model: Transformer, name: String = "in-memory model") throws {
        try self.init(config: model.config, source: TensorWeights(model, name: name))
    }

    /// Bytes of weights read for one decoded token (every matrix once, one embedding row).
    public var bytesPerToken: Int {
        network.matrices.reduce(network.embedding.rowBytes) { $0 + $1.rows * $1.rowBytes }
    }

    /// Runs one batch through the model over `cache`; returns the logits of the rows that want them.
    public func forward(_ batch: ForwardBatch, cache: AttentionCache) -> [Float] {
        let pass = ForwardPass(config: config, batch: batch, cache: cache, adapters: adapters, order: productOrder,
                               regions: decodeRegions)
        network.forward(pass)
        return pass.logits
    }
}
