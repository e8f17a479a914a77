// Transformer: a trainable decoder-only model of any family: its parameters (Float32, Hugging Face names,
// [out, in] matrices) and the seams post-training needs. The family's file (Architectures.all) holds the
// forward; this class holds what every family shares:
//   - trainability per parameter (`freeze`), so fine-tuning can train a subset;
//   - `linear`, the one door every projection goes through, where adapters (LoRA) attach by weight name;
//   - `block`, which runs a transformer block, recomputing it in the backward pass when `checkpointing` is on.
//
// Dimensions: B batch, T time (sequence), C width, H heads, G key/value heads, D head size, F MLP width,
// V vocabulary, N = B·T rows. Activations are N×C matrices, row n = (b, t).
import ForgeAutograd
import ForgeCore
import ForgeKernels

/// Something added to a projection's output (a LoRA adapter): y = x·Wᵀ + adapter(x).
public protocol ProjectionAdapter: AnyObject {
    /// The adapter's contribution for input x [N, in], added to the projection's output [N, out].
    func delta(_ tape: Tape, _ x: Variable) -> Variable
    /// Its trainable parameters (uniquely named, e.g. "base_model.model.<weight>.lora_A.weight").
    var parameters: [Variable] { get }
}

/// A decoder-only transformer's parameters and its training forward pass.
public final class Transformer {
    public let config: TransformerConfig
    public let family: any ModelArchitecture.Type
    /// Every parameter, in the family's canonical order (the order of optimizer state and checkpoints).
    public let parameters: [Variable]
    public let specs: [ParameterSpec]
    let byName: [String: Variable]
    /// Adapters by the name of the weight whose projection they add to.
    public var adapters: [String: any ProjectionAdapter] = [:]
    /// Frozen matrices kept in their file's stored type (QLoRA); their parameters are empty placeholders.
    public private(set) var stored: [String: StoredMatrix] = [:]
    /// Task heads on top of the network, by Hugging Face name (a reward model's "score.weight" [1, C]); trained and
    /// saved with the model.
    public var heads: [String: Variable] = [:]
    /// Head names Hugging Face's sequence-classification models use.
    public static let headNames: Set<String> = ["score.weight"]
    /// Recompute each block in the backward pass instead of keeping its activations.
    public var checkpointing = false
    /// The key dropout masks are drawn from (the trainer sets it per micro-batch).
    public let noise = NoiseKey()
    var ropeTables: [Double: RoPETable] = [:]

    // MARK: - Construction

    /// A freshly initialized model: N(0, initStd) matrices and embeddings, residual projections scaled
    /// by 1/√(2·layers) (GPT-2), constant norms and biases.
    public convenience init(config: TransformerConfig, seed: UInt64) throws {
        try config.validate()
        try config.checkFitsInMemory()
        var rng = RNG(seed: seed)
        var tensors: [String: Tensor] = [:]
        let residualStd = config.initStd / Float(2 * config.layers).squareRoot()
        for spec in try config.family.parameters(config) {
            let t = Tensor(shape: spec.shape)
            switch spec.initialization {
            case .constant(let v): if v != 0 { t.fill(v) }
            case .normal, .residual:
                let std = Double(spec.initialization == .residual ? residualStd : config.initStd)
                for i in 0..<t.count { t.data[i] = Float(rng.normal() * std) }
            }
            tensors[spec.name] = t
        }
        try self.init(config: config, weights: tensors)
    }

    /// A model over existing weights (Forge's layout, Hugging Face names), checked against the config. Matrices in
    /// `stored` stay in their stored type, frozen (their parameters are empty placeholders).
    public init(config: TransformerConfig, weights: [String: Tensor], stored: [String: StoredMatrix] = [:]) throws {
        try config.validate()
        self.config = config
        family = try config.family
        specs = family.parameters(config)
        var params: [Variable] = []
        for spec in specs {
            if let s = stored[spec.name] {
                guard [s.matrix.rows, s.matrix.cols] == spec.shape else {
                    throw ForgeError("stored matrix '\(spec.name)' is \(s.matrix.rows)×\(s.matrix.cols), the config requires \(spec.shape)")
                }
                params.append(Variable(Tensor(shape: [0]), requiresGrad: false, name: spec.name))
                continue
            }
            guard let t = weights[spec.name] else { throw ForgeError("weights lack tensor '\(spec.name)' that the config requires") }
            guard t.shape == spec.shape else {
                throw ForgeError("tensor '\(spec.name)' has shape \(t.shape), the config requires \(spec.shape)")
            }
            params.append(Variable(t, requiresGrad: true, name: spec.name))
        }
        let expected = Set(specs.map(\.name))
        if let extra = weights.keys.sorted().first(where: { !expected.contains($0) }) {
            throw ForgeError("weights have tensor '\(extra)' that the config does not use")
        }
        parameters = params
        byName = Dictionary(uniqueKeysWithValues: params.map { ($0.name, $0) })
        self.stored = stored
    }

    /// The parameter called `name`.
    public func parameter(_ name: String) -> Variable { byName[name]! }

    /// The parameter called `name`, if the model has one.
    public func parameterIfPresent(_ name: String) -> Variable? { byName[name] }

    /// Weights by name (shared storage, Forge's layout).
    public var weights: [String: Tensor] { Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.value) }) }

    // MARK: - Trainability

    /// Parameters of the attached adapters, in a fixed order (by weight name).
    public var adapterParameters: [Variable] { adapters.keys.sorted().flatMap { adapters[$0]!.parameters } }

    /// Parameters that receive gradients: the model's unfrozen ones, then the adapters', then the heads'.
    public var trainableParameters: [Variable] {
        parameters.filter(\.requiresGrad) + adapterParameters.filter(\.requiresGrad) + heads.keys.sorted().map { heads[$0]! }.filter(\.requiresGrad)
    }

    /// Stops (or, with `trainable: true`, restarts) training the parameters whose names match.
    public func setTrainable(_ trainable: Bool, where matches: (String) -> Bool) {
        for p in parameters where matches(p.name) { p.requiresGrad = trainable }
    }

    /// Freezes every parameter (adapters then train alone).
    public func freezeAll() { setTrainable(false) { _ in true } }

    /// AdamW groups over the trainable parameters: weight decay on matrices only.
    public func parameterGroups(weightDecay: Float, muon: Bool = false) -> [ParameterGroup] {
        let decays = Dictionary(uniqueKeysWithValues: specs.map { ($0.name, $0.decays) })
        let trainable = trainableParameters
        // Adapter matrices (not among the specs) decay like the model's matrices.
        let decayed = { (p: Variable) in decays[p.name] ?? (p.shape.count == 2) }
        guard muon else {
            return [ParameterGroup(name: "decay", parameters: trainable.filter(decayed), weightDecay: weightDecay),
                    ParameterGroup(name: "no_decay", parameters: trainable.filter { !decayed($0) }, weightDecay: 0)]
        }
        // Muon takes the hidden matrices; the output head (and embeddings, norms, biases) stay on AdamW.
        let heads = Set(specs.filter { $0.gguf == "output.weight" }.map(\.name))
        let hidden = { (p: Variable) in decayed(p) && p.shape.count == 2 && !heads.contains(p.name) }
        return [ParameterGroup(name: "muon", parameters: trainable.filter(hidden), weightDecay: 0, muon: true),
                ParameterGroup(name: "decay", parameters: trainable.filter { decayed($0) && !hidden($0) }, weightDecay: weightDecay),
                ParameterGroup(name: "no_decay", parameters: trainable.filter { !decayed($0) }, weightDecay: 0)]
    }

    // MARK: - Building blocks for the families' forwards

    /// x·Wᵀ (+ b) for the weight called `weight`, plus any adapter attached to it: every projection of
    /// every family goes through here.
    public func linear(_ tape: Tape, _ x: Variable, _ weight: String, bias: String? = nil) -> Variable {
        var y: Variable
        if let s = stored[weight] {
            precondition(bias == nil, "stored matrices are loaded only for families without projection biases")
            y = tape.storedLinear(x, s)
        } else {
            y = tape.linear(x, parameter(weight), bias.map(parameter))
        }
        guard let adapter = adapters[weight] else { return y }
        return tape.add(y, adapter.delta(tape, x))
    }

    /// Runs one transformer block; with `checkpointing`, its activations are recomputed in the backward pass.
    public func block(_ tape: Tape, _ x: Variable, _ body: @escaping (Tape, Variable) -> Variable) -> Variable {
        checkpointing ? tape.checkpoint(x, body) : body(tape, x)
    }

    /// The rotary table for base `theta`, long enough for `seq` positions (built once per base and length).
    public func ropeTable(theta: Double, seq: Int) -> RoPETable {
        if let t = ropeTables[theta], t.positions >= seq { return t }
        let t = RoPETable(headDim: config.headDim, positions: seq, theta: theta)
        ropeTables[theta] = t
        return t
    }

    /// Attention sizes and masks for a batch laid out as `layout` in layer `layer`.
    public func attentionShape(layout: TokenLayout, layer: Int) -> AttentionShape {
        var s = AttentionShape(batch: layout.batch, seq: layout.seq, heads: config.heads, kvHeads: config.kvHeads, headDim: config.headDim)
        s.window = config.window(layer)
        s.scale = config.scoreScale
        s.documentStarts = layout.documentStarts
        s.keyLengths = layout.lengths
        return s
    }

    // MARK: - Forward

    /// Logits [B·T, V] for `tokens` laid out as B rows of T (T ≤ contextLength).
    public func logits(_ tape: Tape, tokens: [Int32], batch: Int, seq: Int) -> Variable {
        logits(tape, tokens: tokens, layout: TokenLayout(batch: batch, seq: seq))
    }

    /// Logits [B·T, V] for `tokens` in `layout` (packed documents attend only within themselves).
    public func logits(_ tape: Tape, tokens: [Int32], layout: TokenLayout) -> Variable {
        output(tape, hidden(tape, tokens: tokens, layout: layout))
    }

    /// Logits [K, V] of the positions `rows` alone: the output layer (a sixth of a small model's work, and [N, V] floats
    /// of memory) runs only where a loss reads it.
    public func logits(_ tape: Tape, tokens: [Int32], layout: TokenLayout, rows: [Int]) -> Variable {
        output(tape, tape.gatherRows(hidden(tape, tokens: tokens, layout: layout), rows: rows))
    }

    /// The output layer on hidden states [N, C]: logits [N, V].
    func output(_ tape: Tape, _ h: Variable) -> Variable {
        let w = family.outputWeight(self)
        if let s = stored[w.name] { return tape.storedLinear(h, s) }
        return tape.linear(h, w)
    }

    /// Mean next-token cross-entropy over the positions with a target (≥ 0), the output layer run on those alone.
    public func targetLoss(_ tape: Tape, tokens: [Int32], targets: [Int32], layout: TokenLayout) -> Variable {
        let rows = Losses.targetRows(targets)
        if rows.isEmpty || rows.count == targets.count {
            return Losses.crossEntropy(tape, logits(tape, tokens: tokens, layout: layout), targets: targets)
        }
        return Losses.crossEntropy(tape, logits(tape, tokens: tokens, layout: layout, rows: rows), targets: rows.map { targets[$0] })
    }

    /// log p(target) at every position, [N] (0 where the target is negative), the output layer run on target positions alone.
    public func targetLogProbabilities(_ tape: Tape, tokens: [Int32], targets: [Int32], layout: TokenLayout) -> Variable {
        let rows = Losses.targetRows(targets)
        if rows.isEmpty || rows.count == targets.count {
            return Losses.tokenLogProbabilities(tape, logits(tape, tokens: tokens, layout: layout), targets: targets)
        }
        let picked = Losses.tokenLogProbabilities(tape, logits(tape, tokens: tokens, layout: layout, rows: rows),
                                                  targets: rows.map { targets[$0] })
        return tape.scatterRows(picked, rows: rows, count: targets.count)
    }

    /// Rows `ids` of the table `name` (an embedding), from its stored type when it is kept stored (then frozen).
    public func embedding(_ tape: Tape, _ name: String, ids: [Int32]) -> Variable {
        if let s = stored[name] { return Variable(s.rows(ids)) }
        return tape.embedding(parameter(name), ids: ids)
    }

    /// Mean next-token cross-entropy of the logits against `targets` (negative targets are ignored).
    public func loss(_ tape: Tape, tokens: [Int32], targets: [Int32], batch: Int, seq: Int) -> Variable {
        Losses.crossEntropy(tape, logits(tape, tokens: tokens, batch: batch, seq: seq), targets: targets)
    }

    /// Final hidden states [B·T, C] after the last norm.
    public func hidden(_ tape: Tape, tokens: [Int32], batch: Int, seq: Int) -> Variable {
        hidden(tape, tokens: tokens, layout: TokenLayout(batch: batch, seq: seq))
    }

    /// Final hidden states [B·T, C] for `tokens` in `layout`.
    public func hidden(_ tape: Tape, tokens: [Int32], layout: TokenLayout) -> Variable {
        precondition(tokens.count == layout.rows, "expected \(layout.batch)×\(layout.seq) tokens, got \(tokens.count)")
        precondition(layout.seq <= config.contextLength, "sequence \(layout.seq) exceeds the context \(config.contextLength)")
        return family.hidden(self, tape, tokens: tokens, layout: layout)
    }
}
