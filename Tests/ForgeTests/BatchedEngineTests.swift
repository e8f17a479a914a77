// The batched engine: sequences that decode together get the logits they get alone.
import ForgeCore
import ForgeInference
import ForgeModels
import Foundation
import Testing

/// A sequence's part in a batched run: its prompt, the tokens fed after it, and the step it joins at.
struct BatchPlan {
    var prompt: [Int32]
    var continuation: [Int32]
    var start: Int
}

/// Eight sequences of different lengths that join a running batch at different steps and leave when done.
func batchPlans(vocab: Int, seed: UInt64) -> [BatchPlan] {
    var rng = RNG(seed: seed)
    return (0..<8).map { i in
        BatchPlan(prompt: (0..<(3 + 5 * i)).map { _ in Int32(rng.below(vocab)) },
                  continuation: (0..<(4 + (i * 3) % 7)).map { _ in Int32(rng.below(vocab)) }, start: (i * 5) % 7)
    }
}

/// Each plan alone: the prompt's last logits, then each continuation token's (all but the last token fed).
func logitsAlone(_ model: InferenceModel, _ plans: [BatchPlan]) throws -> [[[Float]]] {
    try plans.map { p in
        let session = try InferenceSession(model: model)
        return try [session.forward(p.prompt)] + p.continuation.dropLast().map { try session.forward([$0]) }
    }
}

/// The plans run together through one engine: each step carries the prompts of the sequences that join and the
/// next token of every running one; a sequence leaves (its blocks freed) after its last token.
func logitsTogether(_ engine: InferenceEngine, _ plans: [BatchPlan]) throws -> [[[Float]]] {
    var out = [[[Float]]](repeating: [], count: plans.count)
    var ids = [Int?](repeating: nil, count: plans.count)
    var fed = [Int](repeating: 0, count: plans.count)
    var step = 0
    while out.enumerated().contains(where: { $0.element.count < plans[$0.offset].continuation.count }) {
        var requests: [DecodeRequest] = [], owners: [Int] = []
        for (i, p) in plans.enumerated() where out[i].count < p.continuation.count {
            if ids[i] == nil {
                guard step >= p.start else { continue }
                ids[i] = engine.newSequence()
                requests.append(DecodeRequest(sequence: ids[i]!, tokens: p.prompt))
            } else {
                requests.append(DecodeRequest(sequence: ids[i]!, tokens: [p.continuation[fed[i]]]))
                fed[i] += 1
            }
            owners.append(i)
        }
        for (i, logits) in zip(owners, try engine.decode(requests)) {
            out[i].append(logits)
            if out[i].count == plans[i].continuation.count { engine.release(ids[i]!) }
        }
        step += 1
    }
    return out
}

@Suite struct BatchedEngineTests {
    /// SmolLM2 (Q4_1 matrices, Q8_0 output): integer kernels whose per-token floats do not depend on the batch, so
    /// a sequence decoded among seven others gets exactly the logits it gets alone, at every step.
    @Test func smolLM2BatchedEqualsAloneBitForBit() throws {
        let model = try ModelLoader.load(smolLM2Path)
        let plans = batchPlans(vocab: model.config.vocabSize, seed: 21)
        let alone = try logitsAlone(model, plans)
        let engine = try InferenceEngine(model: model)
        let together = try logitsTogether(engine, plans)
        for i in plans.indices {
            for (j, (a, b)) in zip(alone[i], together[i]).enumerated() {
                #expect(a == b, "sequence \(i) step \(j): largest difference \(zip(a, b).map { abs($0 - $1) }.max()!)")
            }
        }
        #expect(engine.cache.usage.blocks == 0, "every block is freed when the sequences end")
    }

    /// A Float32 model dir (rows dotted one by one on the short path) is also exact in a batch.
    @Test(arguments: [tinyLlama, tinyGemma, tinyGPT])
    func float32ModelBatchedEqualsAlone(config: TransformerConfig) throws {
        let model = try Transformer(config: config, seed: 3)
        perturbAll(model, seed: 4)
        let engine = try InferenceModel(model)
        let plans = batchPlans(vocab: config.vocabSize, seed: 5).map { p in
            var p = p
            p.prompt = Array(p.prompt.prefix(config.contextLength - p.continuation.count))
            return p
        }
        for type in KVCacheType.allCases {
            let alone = try plans.map { p in
                let session = try InferenceSession(model: engine, cacheType: type)
                return try [session.forward(p.prompt)] + p.continuation.dropLast().map { try session.forward([$0]) }
            }
            let together = try logitsTogether(try InferenceEngine(model: engine, cacheType: type), plans)
            #expect(alone == together, "\(config.architecture), \(type) cache")
        }
    }

    /// A request longer than a step runs in chunks of 512 tokens, as it does alone, beside short requests.
    @Test func longPromptsRunInChunksBesideOthers() throws {
        let model = try InferenceModel(try Transformer(config: tinyLongLlama, seed: 8))
        var rng = RNG(seed: 9)
        let long = (0..<700).map { _ in Int32(rng.below(256)) }, short = (0..<5).map { _ in Int32(rng.below(256)) }
        let alone = try InferenceSession(model: model, cacheType: .f32).forward(long, logits: .all)
        let engine = try InferenceEngine(model: model, cacheType: .f32)
        let a = engine.newSequence(), b = engine.newSequence()
        let out = try engine.decode([DecodeRequest(sequence: b, tokens: short), DecodeRequest(sequence: a, tokens: long, logits: .all)])
        #expect(out[1] == alone)
        #expect(out[0].count == 256 && engine.tokens(of: a) == long && engine.tokens(of: b) == short)
    }

    /// Requests that cannot run are refused with a clear error before anything changes.
    @Test func badRequestsAreRefused() throws {
        let model = try InferenceModel(try Transformer(config: tinyLlama, seed: 1))
        let engine = try InferenceEngine(model: model)
        let s = engine.newSequence()
        #expect(throws: ForgeError("token id 300 is outside the vocabulary of 256")) { try engine.decode([DecodeRequest(sequence: s, tokens: [1, 300])]) }
        #expect(throws: ForgeError("sequence \(s) appears twice in one step")) {
            try engine.decode([DecodeRequest(sequence: s, tokens: [1]), DecodeRequest(sequence: s, tokens: [2])])
        }
        #expect(throws: ForgeError("17 tokens do not fit the context window of 16 tokens")) {
            try engine.decode([DecodeRequest(sequence: s, tokens: Array(repeating: 1, count: 17))])
        }
        #expect(throws: ForgeError("sequence 99 does not exist")) { try engine.decode([DecodeRequest(sequence: 99, tokens: [1])]) }
        #expect(engine.cache.length(s) == 0 && engine.cache.usage.blocks == 0)
    }
}

let tinyLongLlama = TransformerConfig(architecture: .llama, vocabSize: 256, contextLength: 1024, width: 32, layers: 2, heads: 4,
                                      kvHeads: 2, tiedEmbeddings: true)
