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
    public var samplerRNG: RNG
    public var tokensSeen: Int
    public var config: TransformerConfig
    public var options: TrainingOptions

    public init(step: Int, optimizerStep: Int, samplerRNG: RNG, tokensSeen: Int, config: TransformerConfig, options: TrainingOptions) {
        (self.step, self.optimizerStep, self.samplerRNG, self.tokensSeen) = (step, optimizerStep, samplerRNG, tokensSeen)
        (self.config, self.options) = (config, options)
    }
}

/// Saving and loading training checkpoints.
public enum Checkpoint {
    static let stateKey = "forge.checkpoint"

    /// Writes weights, optimizer moments and state to `path`, replacing any old file atomically.
    /// Refuses (and leaves the old file) when a weight is not finite.
    public static func save(model: Transformer, optimizer: AdamW, state: CheckpointState, to path: String) throws {
        var tensors: [(String, Tensor)] = []
        for p in model.parameters {
            for i in 0..<p.value.count where !p.value.data[i].isFinite {
                throw ForgeError.file(path, "not written: parameter '\(p.name)' is not finite (training diverged); the previous checkpoint is kept")
            }
            let (m, v) = optimizer.moments[p.name]!
            tensors += [("model/" + p.name, p.value), ("adam_m/" + p.name, m), ("adam_v/" + p.name, v)]
        }
        let json = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        try SafeTensors(tensors: tensors, metadata: [stateKey: json]).write(to: path)
    }

    /// Reads a checkpoint; errors name the file and the problem (missing, truncated, corrupt, mismatched).
    public static func load(from path: String) throws -> (state: CheckpointState, weights: [String: Tensor], moments: [String: (m: Tensor, v: Tensor)]) {
        let file = try SafeTensors.read(from: path)
        guard let json = file.metadata[stateKey] else { throw ForgeError.file(path, "not a Forge checkpoint (no training state)") }
        let state: CheckpointState
        do { state = try JSONDecoder().decode(CheckpointState.self, from: Data(json.utf8)) }
        catch { throw ForgeError.file(path, "corrupt training state: \(error)") }
        var weights: [String: Tensor] = [:]
        var moments: [String: (m: Tensor, v: Tensor)] = [:]
        for (name, t) in file.tensors where name.hasPrefix("model/") { weights[String(name.dropFirst(6))] = t }
        for (name, _) in weights {
            guard let m = file.tensors["adam_m/" + name], let v = file.tensors["adam_v/" + name] else {
                throw ForgeError.file(path, "corrupt: optimizer moments for '\(name)' are missing")
            }
            moments[name] = (m, v)
        }
        return (state, weights, moments)
    }
}
