// InferenceSession: one conversation, as one sequence of an engine of its own (a prompt as one batch, then
// one sampled token at a time). Generation, perplexity and the tests use it; serving many users uses the
// engine directly.
import ForgeCore
import ForgeModels

public final class InferenceSession {
    public let engine: InferenceEngine
    let sequence: Int

    /// A session with room for `contextLength` positions (default: the model's whole context).
    public init(model: InferenceModel, contextLength: Int? = nil, cacheType: KVCacheType = .f16, cacheMemory: Int? = nil) throws {
        engine = try InferenceEngine(model: model, contextLength: contextLength, cacheType: cacheType, cacheMemory: cacheMemory)
        sequence = engine.newSequence()
    }

    public var model: InferenceModel { engine.model }
    /// Positions the session may hold.
    public var capacity: Int { engine.contextLength }
    public var cacheType: KVCacheType { engine.cache.type }
    /// Tokens in the cache, in order.
    public var tokens: [Int32] { engine.tokens(of: sequence) }
    public var position: Int { engine.cache.length(sequence) }

    /// Empties the cache.
    public func reset() { engine.truncate(sequence, to: 0) }

    /// Keeps the first `count` cached tokens and forgets the rest.
    public func rewind(to count: Int) {
        precondition(count >= 0 && count <= position)
        engine.truncate(sequence, to: count)
    }

    /// Runs `input` at the next positions; returns logits (vocabulary floats per requested row).
    public func forward(_ input: [Int32], logits rows: LogitRows = .last) throws -> [Float] {
        guard !input.isEmpty else { return [] }
        return try engine.decode([DecodeRequest(sequence: sequence, tokens: input, logits: rows)])[0]
    }
}
