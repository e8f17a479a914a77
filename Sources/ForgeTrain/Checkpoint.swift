// Checkpoint: everything needed to continue a run exactly, in one safetensors file written
// atomically: weights ("model/NAME"), AdamW moments ("adam_m/NAME", "adam_v/NAME"), and in the
// metadata the JSON state (step, optimizer step, sampler RNG, config, options). The data carries a
// checksum, so a damaged file is refused instead of trained on.
import ForgeAutograd
import ForgeCore
import ForgeModels
import Foundation

/// The JSON part of a checkpoint.
public struct CheckpointState: Codable, Equatable, Sendable {
    public var step: Int
    public var optimizerStep: Int
    public var sampler: SamplerState
    public var tokensSeen: Int
    public var config: TransformerConfig
    public var options: TrainingOptions

    public init(step: Int, optimizerStep: Int, sampler: SamplerState, tokensSeen: Int, config: TransformerConfig, options: TrainingOptions) {
        (self.step, self.optimizerStep, self.sampler, self.tokensSeen) = (step, optimizerStep, sampler, tokensSeen)
        (self.config, self.options) = (config, options)
    }
}

/// What a checkpoint file holds.
public struct LoadedCheckpoint {
    public var state: CheckpointState
    public var weights: [String: Tensor]
    public var moments: [String: (m: Tensor, v: Tensor)]
    /// Muon momentum buffers, by parameter name.
    public var momenta: [String: Tensor] = [:]
}

/// Saving and loading training checkpoints.
public enum Checkpoint {
    static let stateKey = "forge.checkpoint"

    /// Writes `parameters`, the optimizer moments of those it trains, and the state to `path`, replacing any old
    /// file atomically. Refuses (and leaves the old file) when a weight is not finite.
    public static func save(parameters: [Variable], optimizer: AdamW, state: CheckpointState, to path: String) throws {
        try save(parameters: parameters, moments: optimizer.moments, momenta: optimizer.momenta, state: state, to: path)
    }

    /// Writes `parameters` with the given AdamW moments and Muon momenta (a sharded optimizer's, gathered).
    public static func save(parameters: [Variable], moments: [String: (m: Tensor, v: Tensor)], momenta: [String: Tensor],
                            state: CheckpointState, to path: String) throws {
        var tensors: [(String, Tensor)] = []
        for p in parameters {
            for i in 0..<p.value.count where !p.value.data[i].isFinite {
                throw ForgeError.file(path, "not written: parameter '\(p.name)' is not finite (training diverged); the previous checkpoint is kept")
            }
            tensors.append(("model/" + p.name, p.value))
            if let (m, v) = moments[p.name] { tensors += [("adam_m/" + p.name, m), ("adam_v/" + p.name, v)] }
            if let b = momenta[p.name] { tensors.append(("muon_m/" + p.name, b)) }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys  // the same state gives the same bytes
        let json = String(decoding: try encoder.encode(state), as: UTF8.self)
        try SafeTensors(tensors: tensors, metadata: [stateKey: json]).write(to: path)
    }

    /// Writes a model's trained parameters (its adapters' included), moments and state. Frozen parameters are left
    /// out: a run that freezes some (LoRA) takes them from its base model again when it resumes.
    public static func save(model: Transformer, optimizer: AdamW, state: CheckpointState, to path: String) throws {
        try save(parameters: model.trainableParameters, optimizer: optimizer, state: state, to: path)
    }

    /// The training state of a checkpoint (step, config, options), read from its header alone.
    public static func state(at path: String) throws -> CheckpointState {
        guard let json = try SafeTensors.readMetadata(from: path)[stateKey] else {
            throw ForgeError.file(path, "not a Forge checkpoint (no training state)")
        }
        do { return try JSONDecoder().decode(CheckpointState.self, from: Data(json.utf8)) }
        catch { throw ForgeError.file(path, "corrupt training state: \(error)") }
    }

    /// Reads a checkpoint; errors name the file and the problem (missing, truncated, corrupt, mismatched).
    public static func load(from path: String) throws -> LoadedCheckpoint {
        let file = try SafeTensors.read(from: path)
        guard let json = file.metadata[stateKey] else { throw ForgeError.file(path, "not a Forge checkpoint (no training state)") }
        let state: CheckpointState
        do { state = try JSONDecoder().decode(CheckpointState.self, from: Data(json.utf8)) }
        catch { throw ForgeError.file(path, "corrupt training state: \(error)") }
        var weights: [String: Tensor] = [:]
        var moments: [String: (m: Tensor, v: Tensor)] = [:]
        for (name, t) in file.tensors where name.hasPrefix("model/") { weights[String(name.dropFirst(6))] = t }
        for (name, m) in file.tensors where name.hasPrefix("adam_m/") {
            let key = String(name.dropFirst(7))
            guard let v = file.tensors["adam_v/" + key] else { throw ForgeError.file(path, "corrupt: optimizer moments for '\(key)' are incomplete") }
            moments[key] = (m, v)
        }
        var momenta: [String: Tensor] = [:]
        for (name, b) in file.tensors where name.hasPrefix("muon_m/") { momenta[String(name.dropFirst(7))] = b }
        return LoadedCheckpoint(state: state, weights: weights, moments: moments, momenta: momenta)
    }
}
