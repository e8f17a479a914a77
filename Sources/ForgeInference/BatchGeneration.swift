// BatchGeneration: many prompts generated through one Scheduler (continuous batching), results in prompt order.
// For tools that sample a model on a whole set (preference pairs, rollouts); a progress callback sees each finish.
import ForgeCore

public enum BatchGeneration {
    /// A generated reply and why it ended (`stop`: an end token or stop string; `length`: out of tokens).
    public struct Reply: Sendable {
        public var text: String
        public var finish: FinishReason?
    }

    /// Generates one reply per prompt (token ids) with `settings`; prompt i samples with seed `settings.seed + i`.
    public static func run(_ loaded: LoadedModel, prompts: [[Int32]], settings: GenerationSettings, contextLength: Int,
                           maxSequences: Int = 8, progress: (Int) -> Void = { _ in }) async throws -> [Reply] {
        let engine = try InferenceEngine(model: loaded.model, contextLength: contextLength, cacheType: .f32)
        var options = Scheduler.Options()
        options.maxSequences = maxSequences
        options.maxQueue = max(64, prompts.count)
        let scheduler = Scheduler(engine: engine, endTokens: loaded.endTokens, options: options) { [loaded] in loaded.bytes(of: $0) }
        defer { scheduler.shutdown() }
        var results = Array(repeating: Reply(text: "", finish: nil), count: prompts.count)
        try await withThrowingTaskGroup(of: (Int, Reply).self) { group in
            var next = 0, done = 0
            while next < prompts.count || !group.isEmpty {
                while next < prompts.count && next - done < 2 * maxSequences {
                    var s = settings
                    s.sampling.seed = settings.sampling.seed &+ UInt64(next)
                    let handle = try scheduler.submit(JobRequest(prompt: prompts[next], settings: s, choices: 1))
                    let i = next
                    group.addTask {
                        var reply = Reply(text: "", finish: nil)
                        for await e in handle.events {
                            switch e {
                            case .text(_, let t, _): reply.text += t
                            case .finished(_, let reason, _): reply.finish = reason
                            case .failed(let err): throw err
                            default: break
                            }
                        }
                        return (i, reply)
                    }
                    next += 1
                }
                guard let (i, reply) = try await group.next() else { break }
                results[i] = reply
                done += 1
                progress(done)
            }
        }
        return results
    }
}
