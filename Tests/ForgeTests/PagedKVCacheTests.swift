// The paged key/value cache: blocks as sequences grow, freed when they end, shared by prefix with copy on
// write, within a memory budget.
import ForgeCore
import ForgeInference
import ForgeModels
import Foundation
import Testing

@Suite struct PagedKVCacheTests {
    let model: InferenceModel
    let tokens: [Int32]

    init() throws {
        let m = try Transformer(config: tinyLongLlama, seed: 12)
        perturbAll(m, seed: 13)
        model = try InferenceModel(m)
        var rng = RNG(seed: 14)
        tokens = (0..<120).map { _ in Int32(rng.below(256)) }
    }

    /// Feeds `tokens` to a sequence: a prompt of `prompt` tokens, then one at a time; returns the last logits.
    func feed(_ engine: InferenceEngine, _ seq: Int, _ tokens: ArraySlice<Int32>, prompt: Int) throws -> [[Float]] {
        var out = [try engine.decode([DecodeRequest(sequence: seq, tokens: Array(tokens.prefix(prompt)))])[0]]
        for t in tokens.dropFirst(prompt) { out.append(try engine.decode([DecodeRequest(sequence: seq, tokens: [t])])[0]) }
        return out
    }

    @Test(arguments: KVCacheType.allCases)
    func blocksGrowAreSharedCopiedOnWriteAndFreed(type: KVCacheType) throws {
        let engine = try InferenceEngine(model: model, cacheType: type)
        let perBlock = PagedKVCache.blockSize
        let a = engine.newSequence()
        #expect(engine.cache.usage.blocks == 0, "nothing is allocated up front")
        _ = try feed(engine, a, tokens[0..<70], prompt: 50)
        #expect(engine.cache.usage.blocks == (70 + perBlock - 1) / perBlock)
        #expect(engine.cache.usage.bytes == engine.cache.usage.blocks * engine.cache.blockBytes)

        // A fork at 40 shares blocks 0 and 1; its first write copies block 1 and leaves block 0 shared.
        let b = engine.fork(a, length: 40)
        #expect(engine.tokens(of: b) == Array(tokens[0..<40]))
        #expect(engine.cache.usage.sharedBlocks == 2 && engine.cache.usage.blocks == 3)
        let forked = try feed(engine, b, tokens[40..<45], prompt: 1)
        #expect(engine.cache.sharesBlock(a, b, at: 0) && !engine.cache.sharesBlock(a, b, at: 40))
        #expect(engine.cache.usage.blocks == 4 && engine.cache.usage.sharedBlocks == 1)

        // The fork's logits equal a fresh sequence's over the same tokens (computed without sharing) ...
        let c = engine.newSequence()
        let fresh = try feed(engine, c, tokens[0..<45], prompt: 41)
        #expect(forked == fresh)
        // ... and the original continues unharmed by the fork's writes.
        let more = try feed(engine, a, tokens[70..<80], prompt: 1)
        let reference = try InferenceEngine(model: model, cacheType: type)
        let r = reference.newSequence()
        _ = try feed(reference, r, tokens[0..<70], prompt: 50)
        #expect(more == (try feed(reference, r, tokens[70..<80], prompt: 1)))

        // Rewinding frees the blocks past the kept positions; ending a sequence frees what it does not share.
        engine.truncate(a, to: 33)
        #expect(engine.tokens(of: a) == Array(tokens[0..<33]))
        engine.release(a)
        engine.release(c)
        #expect(engine.cache.usage.blocks == 2, "b keeps its own two blocks")
        engine.release(b)
        #expect(engine.cache.usage.blocks == 0 && engine.cache.usage.sharedBlocks == 0)
    }

    /// With a budget of three blocks, a request that needs more is refused with a clear error, and nothing changes.
    @Test func aFullCacheIsAClearErrorNotACrash() throws {
        let blockBytes = PagedKVCache(layers: tinyLongLlama.layers, kvWidth: tinyLongLlama.kvWidth, type: .f16, budget: 0).blockBytes
        let engine = try InferenceEngine(model: model, cacheMemory: 3 * blockBytes)
        let s = engine.newSequence()
        _ = try engine.decode([DecodeRequest(sequence: s, tokens: Array(tokens[0..<64]))])
        do {
            _ = try engine.decode([DecodeRequest(sequence: s, tokens: Array(tokens[64..<100]))])
            Issue.record("a request past the budget was accepted")
        } catch let e as ForgeError {
            #expect(e.description.hasPrefix("the key/value cache is full: 2 more blocks"), "\(e)")
        }
        #expect(engine.cache.length(s) == 64 && engine.cache.usage.blocks == 2)
        _ = try engine.decode([DecodeRequest(sequence: s, tokens: Array(tokens[64..<96]))])
        #expect(engine.cache.usage.blocks == 3)
    }

    /// A model whose config allows a billion positions opens and runs without reserving memory for them.
    @Test func aHugeContextAllocatesNothingUpFront() throws {
        var c = tinyLlama
        c.contextLength = 1 << 30
        let engine = try InferenceSession(model: try InferenceModel(try Transformer(config: c, seed: 2)))
        #expect(engine.capacity == 1 << 30)
        #expect(try engine.forward([1, 2, 3]).count == 256)
        #expect(engine.engine.cache.usage.blocks == 1)
    }
}
