// Architecture: what one model family is, in one place, and the registry of families Forge knows.
//
// Each family is one file (GPT2.swift, Llama.swift, Gemma3.swift) holding its config keys (Hugging Face
// config.json and GGUF metadata), its parameters (names, shapes, initialization, GGUF names and the
// transforms llama.cpp's converter applies), the training forward on the tape and the inference forward
// over stored weights. Adding a family is one new file and one line in `Architectures.all`.
import ForgeAutograd
import ForgeCore

/// A model family: its config keys, parameters and both forwards.
public protocol ModelArchitecture {
    /// The family's name in Forge configs and on the command line ("llama").
    static var name: String { get }
    /// `model_type` values of Hugging Face config.json files this family reads (the first is written).
    static var modelTypes: [String] { get }
    /// `general.architecture` of its GGUF files, when it has a GGUF form.
    static var ggufName: String? { get }

    /// A config from the family's Hugging Face config.json keys; errors name the key.
    static func config(huggingFace keys: ConfigKeys) throws -> TransformerConfig
    /// The family's config.json (Hugging Face field names).
    static func huggingFaceConfig(_ c: TransformerConfig) -> [String: Any]
    /// A config from GGUF metadata (`<arch>.embedding_length`, ...); errors name the key.
    static func config(gguf keys: ConfigKeys, vocabSize: Int) throws -> TransformerConfig
    /// The `<arch>.*` GGUF metadata llama.cpp reads for this config (the inverse of `config(gguf:)`).
    static func ggufMetadata(_ c: TransformerConfig) throws -> [(String, GGUFTypedValue)]
    /// Checks what only this family requires (`TransformerConfig.validate` checks the rest).
    static func validate(_ c: TransformerConfig) throws

    /// Every parameter in canonical order (optimizer state and checkpoints follow it).
    static func parameters(_ c: TransformerConfig) -> [ParameterSpec]
    /// The training forward: final hidden states [B·T, C] after the last norm, rows at the layout's positions and
    /// attending within their documents (through `model.attentionShape(layout:layer:)` and `layout.positions`).
    static func hidden(_ model: Transformer, _ tape: Tape, tokens: [Int32], layout: TokenLayout) -> Variable
    /// The output matrix the logits come from ([V, C]).
    static func outputWeight(_ model: Transformer) -> Variable
    /// The inference network over weights from `source` (a mapped GGUF, or a training model's tensors).
    static func inferenceNetwork(_ c: TransformerConfig, _ source: WeightSource) throws -> InferenceNetwork
    /// Whether a tensor of the family's Hugging Face files is deliberately not read (buffers, unused heads).
    static func ignoresTensor(_ name: String) -> Bool
}

extension ModelArchitecture {
    public static func validate(_ c: TransformerConfig) throws {}
    public static func ignoresTensor(_ name: String) -> Bool { false }
    public static func ggufMetadata(_ c: TransformerConfig) throws -> [(String, GGUFTypedValue)] {
        throw ForgeError("\(name) models have no GGUF form in llama.cpp")
    }
}

/// The families Forge knows. One line per family.
public enum Architectures {
    public static let all: [any ModelArchitecture.Type] = [GPT2.self, Llama.self, Gemma3.self, BERT.self]

    /// The family called `name` (Forge's name), with an error listing the known ones.
    public static func named(_ name: String) throws -> any ModelArchitecture.Type {
        for a in all where a.name == name { return a }
        throw ForgeError("unknown architecture '\(name)' (Forge knows \(list { [$0.name] }))")
    }

    /// The family of a Hugging Face `model_type`.
    public static func forModelType(_ type: String) throws -> any ModelArchitecture.Type {
        for a in all where a.modelTypes.contains(type) { return a }
        throw ForgeError("model_type '\(type)' is not supported (Forge reads \(list { $0.modelTypes }))")
    }

    /// The family of a GGUF `general.architecture`.
    public static func forGGUF(_ name: String) throws -> any ModelArchitecture.Type {
        for a in all where a.ggufName == name { return a }
        throw ForgeError("model architecture '\(name)' is not supported (Forge runs GGUF files of \(list { $0.ggufName.map { [$0] } ?? [] }))")
    }

    static func list(_ names: (any ModelArchitecture.Type) -> [String]) -> String {
        var out: [String] = []
        for a in all { out += names(a) }
        return out.joined(separator: ", ")
    }
}

/// Forge's name of a model family, e.g. `.llama` (each family's file declares its own constant).
public struct Architecture: RawRepresentable, Hashable, Codable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }
    /// The family's definition.
    public var definition: any ModelArchitecture.Type { get throws { try Architectures.named(rawValue) } }
}

// MARK: - Parameters

/// How a parameter starts in a fresh model.
public enum ParameterInit: Sendable, Equatable {
    /// N(0, initStd).
    case normal
    /// N(0, initStd/√(2·layers)): projections that write into the residual stream (GPT-2).
    case residual
    /// Every value the same (norm weights 1, Gemma's zero-centred norms 0, biases 0).
    case constant(Float)
}

/// How llama.cpp's converter changes a tensor on its way into a GGUF (inverted when Forge imports it).
public enum GGUFTransform: Sendable, Equatable {
    case none
    /// Within each of `heads` heads, rows reordered from "rotate half" pairs (i, i+D/2) to adjacent pairs
    /// (2i, 2i+1): Llama's Q and K.
    case ropePermutation(heads: Int)
    /// Stored as 1 + w (Gemma's RMSNorm multiplies by 1 + w).
    case plusOne
}

/// One parameter: its Hugging Face name, shape in Forge's layout ([out, in] for matrices) and its other forms.
public struct ParameterSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let initialization: ParameterInit
    /// Whether AdamW's weight decay applies (matrices yes; embeddings, norms and biases no).
    public let decays: Bool
    /// The tensor's name in GGUF files (nil: not stored there, e.g. part of another tensor).
    public let gguf: String?
    public let ggufTransform: GGUFTransform
    /// Stored [in, out] in Hugging Face files (GPT-2's Conv1D).
    public let huggingFaceTransposed: Bool

    public init(_ name: String, _ shape: [Int], _ initialization: ParameterInit, decays: Bool, gguf: String?,
                ggufTransform: GGUFTransform = .none, huggingFaceTransposed: Bool = false) {
        self.name = name
        self.shape = shape
        self.initialization = initialization
        self.decays = decays
        self.gguf = gguf
        self.ggufTransform = ggufTransform
        self.huggingFaceTransposed = huggingFaceTransposed
    }

    /// A matrix of a linear layer (decayed; residual projections get the smaller initialization).
    public static func matrix(_ name: String, _ rows: Int, _ cols: Int, gguf: String?, residual: Bool = false,
                              transform: GGUFTransform = .none, transposedInHF: Bool = false) -> ParameterSpec {
        ParameterSpec(name, [rows, cols], residual ? .residual : .normal, decays: true, gguf: gguf, ggufTransform: transform,
                      huggingFaceTransposed: transposedInHF)
    }

    /// An embedding table (not decayed).
    public static func embedding(_ name: String, _ rows: Int, _ cols: Int, gguf: String?) -> ParameterSpec {
        ParameterSpec(name, [rows, cols], .normal, decays: false, gguf: gguf)
    }

    /// A vector: norm weight or bias (not decayed).
    public static func vector(_ name: String, _ count: Int, initial: Float, gguf: String?, transform: GGUFTransform = .none) -> ParameterSpec {
        ParameterSpec(name, [count], .constant(initial), decays: false, gguf: gguf, ggufTransform: transform)
    }

    public var elementCount: Int { shape.reduce(1, *) }
}
