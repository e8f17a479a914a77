// LoRA: low-rank adapters on a model's projections, y = x·Wᵀ + (α/r)·(dropout(x)·Aᵀ)·Bᵀ with A [r, in] and
// B [out, r] (B starts at zero, so training starts from the base model). Trained through the `linear` door
// (ProjectionAdapter), applied at inference without merging (InferenceAdapter), folded into W by `merge`, and
// saved in Hugging Face PEFT's layout: adapter_config.json and adapter_model.safetensors with tensors named
// "base_model.model.<module>.lora_A.weight" / "lora_B.weight".
import ForgeAutograd
import ForgeCore
import ForgeKernels
import Foundation

/// Rank, scale, dropout and target modules of a LoRA adapter.
public struct LoRAConfig: Equatable, Sendable {
    public var rank: Int
    public var alpha: Double
    public var dropout: Double
    /// Module names the adapter applies to ("q_proj", "down_proj", GPT-2's "c_attn"...).
    public var targets: [String]

    /// Short names for Llama-style modules: q, k, v, o, gate, up, down.
    public static let aliases = ["q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj",
                                 "gate": "gate_proj", "up": "up_proj", "down": "down_proj"]

    public init(rank: Int, alpha: Double, dropout: Double = 0, targets: [String]) throws {
        guard rank > 0 else { throw ForgeError("LoRA rank must be positive (got \(rank))") }
        guard alpha > 0, alpha.isFinite else { throw ForgeError("LoRA alpha must be positive (got \(alpha))") }
        guard dropout >= 0, dropout < 1 else { throw ForgeError("LoRA dropout must be in [0, 1) (got \(dropout))") }
        guard !targets.isEmpty else { throw ForgeError("LoRA needs at least one target module") }
        (self.rank, self.alpha, self.dropout) = (rank, alpha, dropout)
        self.targets = targets.map { LoRAConfig.aliases[$0] ?? $0 }
    }

    /// α / r, the factor on B·A.
    public var scale: Float { Float(alpha / Double(rank)) }
}

/// Where dropout masks come from: the trainer sets `value` for each micro-batch, so a recomputed block and a
/// resumed run draw the same masks.
public final class NoiseKey: @unchecked Sendable {
    public var value: UInt64 = 0
    public init() {}
}

/// A trainable LoRA adapter on one projection.
public final class LoRAAdapter: ProjectionAdapter {
    public let a: Variable
    public let b: Variable
    public let scale: Float
    public let dropout: Float
    let noise: NoiseKey
    let salt: UInt64

    init(a: Tensor, b: Tensor, scale: Float, dropout: Float, module: String, noise: NoiseKey) {
        self.a = Variable(a, requiresGrad: true, name: LoRA.key(module, "A"))
        self.b = Variable(b, requiresGrad: true, name: LoRA.key(module, "B"))
        (self.scale, self.dropout, self.noise) = (scale, dropout, noise)
        var h = FNV1a64()
        Array(module.utf8).withUnsafeBytes { h.update($0) }
        salt = h.value
    }

    public var parameters: [Variable] { [a, b] }

    public func delta(_ tape: Tape, _ x: Variable) -> Variable {
        // Dropout only while training (a recording tape); validation and inference see every input.
        let input = dropout > 0 && tape.recording ? tape.dropout(x, dropout, seed: noise.value ^ salt) : x
        return tape.scale(tape.linear(tape.linear(input, a), b), scale)
    }
}

/// A LoRA adapter at inference: out += scale·(x·Aᵀ)·Bᵀ by two SGEMMs.
final class LoRAProduct: InferenceAdapter {
    let a: Tensor, b: Tensor, scale: Float
    init(a: Tensor, b: Tensor, scale: Float) { (self.a, self.b, self.scale) = (a, b, scale) }

    func add(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>, ldy: Int) {
        let r = a.shape[0], outWidth = b.shape[0]
        let t = UnsafeMutablePointer<Float>.allocate(capacity: rows * r)
        defer { t.deallocate() }
        BLAS.sgemm(transA: false, transB: true, m: rows, n: r, k: cols, a: x, lda: cols, b: a.data, ldb: cols, beta: 0, c: t, ldc: r)
        BLAS.sgemm(transA: false, transB: true, m: rows, n: outWidth, k: r, alpha: scale, a: t, lda: r, b: b.data, ldb: r,
                   beta: 1, c: out, ldc: ldy)
    }
}

/// LoRA weights read from a PEFT adapter dir: its config and (A, B) by the weight name they apply to.
public struct LoRAWeights {
    public var config: LoRAConfig
    public var pairs: [String: (a: Tensor, b: Tensor)]
}

public enum LoRA {
    /// PEFT's tensor name for module `module`'s A or B.
    static func key(_ module: String, _ which: String) -> String { "base_model.model.\(module).lora_\(which).weight" }

    /// The module path of a weight in Hugging Face's model (GPT-2's blocks live under "transformer.").
    static func module(_ weight: String, family: any ModelArchitecture.Type) -> String {
        let m = String(weight.dropLast(".weight".count))
        return family.name == "gpt2" ? "transformer." + m : m
    }

    /// Projection weights the adapter targets: block matrices whose module's last name is a target.
    static func targetWeights(_ config: LoRAConfig, _ c: TransformerConfig) throws -> [ParameterSpec] {
        let family = try c.family
        let projections = family.parameters(c).filter { $0.shape.count == 2 && $0.decays && $0.name.hasSuffix(".weight") && $0.name != "lm_head.weight" }
        let chosen = projections.filter { spec in config.targets.contains(String(spec.name.dropLast(".weight".count).split(separator: ".").last!)) }
        let names = Set(projections.map { String($0.name.dropLast(".weight".count).split(separator: ".").last!) })
        for t in config.targets where !names.contains(t) {
            throw ForgeError("LoRA target '\(t)' is not a projection of this \(family.name) model (it has \(names.sorted().joined(separator: ", ")))")
        }
        for s in chosen where config.rank > min(s.shape[0], s.shape[1]) {
            throw ForgeError("LoRA rank \(config.rank) is larger than the matrix \(s.name) (\(s.shape[0])×\(s.shape[1]))")
        }
        return chosen
    }

    /// Attaches fresh adapters (A uniform in ±1/√in as PEFT's Kaiming init, B zero) and freezes the model.
    @discardableResult
    public static func attach(_ config: LoRAConfig, to model: Transformer, seed: UInt64) throws -> [LoRAAdapter] {
        var rng = RNG(seed: seed)
        var pairs: [String: (a: Tensor, b: Tensor)] = [:]
        for spec in try targetWeights(config, model.config) {
            let (out, inWidth) = (spec.shape[0], spec.shape[1])
            let a = Tensor(shape: [config.rank, inWidth], zeroed: false), bound = 1 / Double(inWidth).squareRoot()
            for i in 0..<a.count { a.data[i] = Float((2 * rng.uniform() - 1) * bound) }
            pairs[spec.name] = (a, Tensor(shape: [out, config.rank], zeroed: true))
        }
        return try attach(LoRAWeights(config: config, pairs: pairs), to: model)
    }

    /// Attaches loaded adapters for training (continued) and freezes the model.
    @discardableResult
    public static func attach(_ weights: LoRAWeights, to model: Transformer) throws -> [LoRAAdapter] {
        try check(weights, model.config)
        model.freezeAll()
        let family = try model.config.family
        var out: [LoRAAdapter] = []
        for name in weights.pairs.keys.sorted() {
            let (a, b) = weights.pairs[name]!
            let adapter = LoRAAdapter(a: a, b: b, scale: weights.config.scale, dropout: Float(weights.config.dropout),
                                      module: module(name, family: family), noise: model.noise)
            model.adapters[name] = adapter
            out.append(adapter)
        }
        return out
    }

    /// Checks that every pair fits its weight in a model of config `c`.
    static func check(_ weights: LoRAWeights, _ c: TransformerConfig) throws {
        let specs = Dictionary(uniqueKeysWithValues: try c.family.parameters(c).map { ($0.name, $0) })
        for (name, (a, b)) in weights.pairs {
            guard let s = specs[name], s.shape.count == 2 else { throw ForgeError("LoRA weights for '\(name)', which this model does not have") }
            guard a.shape == [weights.config.rank, s.shape[1]], b.shape == [s.shape[0], weights.config.rank] else {
                throw ForgeError("LoRA weights for '\(name)' are A \(a.shape), B \(b.shape); the matrix is \(s.shape[0])×\(s.shape[1]) at rank \(weights.config.rank)")
            }
        }
    }

    /// Folds the adapters into the model's weights: W += scale·B·A.
    public static func merge(_ weights: LoRAWeights, into model: Transformer) throws {
        try check(weights, model.config)
        for (name, (a, b)) in weights.pairs {
            let w = model.parameter(name).value
            BLAS.sgemm(transA: false, transB: false, m: b.shape[0], n: a.shape[1], k: weights.config.rank, alpha: weights.config.scale,
                       a: b.data, lda: weights.config.rank, b: a.data, ldb: a.shape[1], beta: 1, c: w.data, ldc: a.shape[1])
        }
    }

    /// Applies the adapters to an inference model without merging. `gguf`: the model's matrices are a GGUF's, whose
    /// Q/K rows llama.cpp's converter permuted, so B's rows get the same permutation.
    public static func apply(_ weights: LoRAWeights, to model: InferenceModel, gguf: Bool) throws {
        try check(weights, model.config)
        let specs = Dictionary(uniqueKeysWithValues: try model.config.family.parameters(model.config).map { ($0.name, $0) })
        for (name, (a, b)) in weights.pairs {
            let rows = gguf ? specs[name]!.ggufTransform.toGGUF(b) : b
            model.adapters[name] = LoRAProduct(a: a, b: rows, scale: weights.config.scale)
        }
    }

    // MARK: - PEFT files

    /// The adapters of `model` as LoRA weights (copies of their current values).
    public static func weights(of model: Transformer, config: LoRAConfig) -> LoRAWeights {
        var pairs: [String: (a: Tensor, b: Tensor)] = [:]
        for (name, adapter) in model.adapters {
            guard let l = adapter as? LoRAAdapter else { continue }
            pairs[name] = (l.a.value.copy(), l.b.value.copy())
        }
        return LoRAWeights(config: config, pairs: pairs)
    }

    /// Writes `dir`/adapter_config.json and adapter_model.safetensors (PEFT's layout; each file replaced atomically).
    public static func save(_ weights: LoRAWeights, family: any ModelArchitecture.Type, baseModel: String, to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let c = weights.config
        let modules = Set(weights.pairs.keys.map { String($0.dropLast(".weight".count).split(separator: ".").last!) }).sorted()
        let config: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": c.rank, "lora_alpha": c.alpha, "lora_dropout": c.dropout,
            "target_modules": modules, "bias": "none", "fan_in_fan_out": family.name == "gpt2", "inference_mode": true,
            "init_lora_weights": true, "use_rslora": false, "use_dora": false, "modules_to_save": NSNull(),
            "base_model_name_or_path": baseModel, "revision": NSNull(), "layers_to_transform": NSNull(), "layers_pattern": NSNull(),
            "rank_pattern": [String: Any](), "alpha_pattern": [String: Any](),
        ]
        let json = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(dir + "/adapter_config.json", data: json)
        var tensors: [(String, Tensor)] = []
        for name in weights.pairs.keys.sorted() {
            let m = module(name, family: family)
            tensors.append((key(m, "A"), weights.pairs[name]!.a))
            tensors.append((key(m, "B"), weights.pairs[name]!.b))
        }
        try SafeTensors(tensors: tensors, metadata: ["format": "pt"]).write(to: dir + "/adapter_model.safetensors")
    }

    /// Reads a PEFT LoRA adapter dir for a model of config `c`.
    public static func load(_ dir: String, for c: TransformerConfig) throws -> LoRAWeights {
        let configPath = dir + "/adapter_config.json"
        guard let data = FileManager.default.contents(atPath: configPath) else { throw ForgeError.file(configPath, "cannot be read") }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw ForgeError.file(configPath, "not valid JSON") }
        guard (json["peft_type"] as? String) == "LORA" else { throw ForgeError.file(configPath, "not a LoRA adapter (peft_type \(json["peft_type"] ?? "missing"))") }
        for flag in ["use_dora", "use_rslora"] where (json[flag] as? Bool) == true {
            throw ForgeError.file(configPath, "\(flag) adapters are not supported")
        }
        guard let r = json["r"] as? Int, let alpha = (json["lora_alpha"] as? NSNumber)?.doubleValue else {
            throw ForgeError.file(configPath, "lacks 'r' or 'lora_alpha'")
        }
        let targets = (json["target_modules"] as? [String]) ?? []
        let config: LoRAConfig
        do { config = try LoRAConfig(rank: r, alpha: alpha, dropout: (json["lora_dropout"] as? NSNumber)?.doubleValue ?? 0,
                                     targets: targets.isEmpty ? ["q_proj"] : targets) }
        catch let e as ForgeError { throw ForgeError.file(configPath, e.description) }
        let file = try SafeTensors.read(from: dir + "/adapter_model.safetensors")
        let family = try c.family
        var pairs: [String: (a: Tensor, b: Tensor)] = [:]
        for spec in try c.family.parameters(c) where spec.shape.count == 2 {
            let m = module(spec.name, family: family)
            let a = file[key(m, "A")] ?? file["base_model.model.\(m).lora_A.default.weight"]
            let b = file[key(m, "B")] ?? file["base_model.model.\(m).lora_B.default.weight"]
            if let a, let b { pairs[spec.name] = (a, b) }
        }
        guard !pairs.isEmpty else { throw ForgeError.file(dir + "/adapter_model.safetensors", "no LoRA tensors for this \(family.name) model's projections") }
        let weights = LoRAWeights(config: config, pairs: pairs)
        do { try check(weights, c) } catch let e as ForgeError { throw ForgeError.file(dir, e.description) }
        return weights
    }
}
