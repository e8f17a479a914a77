// GroupSampler: several completions of each prompt through the batched inference engine, synchronously (RL
// rollouts, exact-match evaluation). Each prompt is computed once and forked into its group (the forks share the
// prompt's cached blocks); then every live completion advances by one token per engine step, all in one batch.
// Completion (p, g) samples with its own seed, so a group is the same whatever it is batched with.
import ForgeCore
import ForgeInference
import ForgeModels

/// One sampled completion: its tokens (the end token included when it ended) and whether it ended by itself.
public struct Completion: Sendable, Equatable {
    public var tokens: [Int32]
    public var ended: Bool
}

public enum GroupSampler {
    /// `group` completions of each prompt from `model`, at most `maxTokens` each; completion g of prompt p samples
    /// with seed mix(settings.seed, p, g). Prompts run `promptsPerStep` at a time.
    public static func sample(_ model: InferenceModel, prompts: [[Int32]], group: Int, settings: SamplingSettings, maxTokens: Int,
                              endTokens: Set<Int32>, promptsPerStep: Int = 16) throws -> [[Completion]] {
        precondition(group >= 1 && maxTokens >= 1)
        let longest = prompts.map(\.count).max() ?? 0
        let engine = try InferenceEngine(model: model, contextLength: min(model.config.contextLength, longest + maxTokens), cacheType: .f32)
        var out: [[Completion]] = []
        for start in stride(from: 0, to: prompts.count, by: promptsPerStep) {
            let chunk = Array(start..<min(start + promptsPerStep, prompts.count))
            out += try sampleChunk(engine, prompts: prompts, indices: chunk, group: group, settings: settings, maxTokens: maxTokens, endTokens: endTokens)
        }
        return out
    }

    static func sampleChunk(_ engine: InferenceEngine, prompts: [[Int32]], indices: [Int], group: Int, settings: SamplingSettings,
                            maxTokens: Int, endTokens: Set<Int32>) throws -> [[Completion]] {
        for p in indices where prompts[p].isEmpty { throw ForgeError("prompt \(p) is empty") }
        let heads = indices.map { _ in engine.newSequence() }
        defer { heads.forEach(engine.release) }
        let first = try engine.decode(zip(heads, indices).map { DecodeRequest(sequence: $0, tokens: prompts[$1], logits: .last) })
        // Live completions: (prompt slot, sample, sequence, sampler).
        var live: [(slot: Int, g: Int, seq: Int, sampler: Sampler)] = []
        var results = indices.map { _ in [Completion](repeating: Completion(tokens: [], ended: false), count: group) }
        var next: [Int32] = []
        for (slot, p) in indices.enumerated() {
            for g in 0..<group {
                var s = settings
                s.seed = settings.seed ^ (UInt64(p) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(g) &* 0xBF58_476D_1CE4_E5B9)
                var sampler = Sampler(s)
                let token = sampler.sample(first[slot])
                results[slot][g].tokens.append(token)
                if endTokens.contains(token) { results[slot][g].ended = true; continue }
                if maxTokens == 1 || engine.cache.length(heads[slot]) + 1 > engine.contextLength { continue }
                live.append((slot, g, engine.fork(heads[slot]), sampler))
                next.append(token)
            }
        }
        defer { for l in live { engine.release(l.seq) } }
        while !live.isEmpty {
            let rows = try engine.decode(zip(live, next).map { DecodeRequest(sequence: $0.seq, tokens: [$1], logits: .last) })
            var keep: [Int] = []
            next = []
            for k in live.indices {
                let (slot, g) = (live[k].slot, live[k].g)
                let token = live[k].sampler.sample(rows[k])
                results[slot][g].tokens.append(token)
                if endTokens.contains(token) {
                    results[slot][g].ended = true
                } else if results[slot][g].tokens.count < maxTokens && engine.cache.length(live[k].seq) + 1 <= engine.contextLength {
                    keep.append(k); next.append(token); continue
                }
                engine.release(live[k].seq)
            }
            live = keep.map { live[$0] }
        }
        return results
    }
}
