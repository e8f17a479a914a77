// The scheduler behind the server: continuous batching, prefix reuse, choices, logprobs, limits and cancellation.
import ForgeCore
import ForgeInference
import ForgeModels
import Foundation
import Testing

/// A job's collected output.
struct JobOutput {
    var texts: [String] = []
    var reasons: [FinishReason?] = []
    var logprobs: [[TokenLogprob]] = []
    var cached = -1
    var error: ForgeError?
}

func collect(_ handle: JobHandle, choices: Int = 1) async -> JobOutput {
    var out = JobOutput(texts: Array(repeating: "", count: choices), reasons: Array(repeating: nil, count: choices),
                        logprobs: Array(repeating: [], count: choices))
    for await event in handle.events {
        switch event {
        case .text(let i, let t, let tokens): out.texts[i] += t; out.logprobs[i] += tokens
        case .finished(let i, let reason, _): out.reasons[i] = reason
        case .done(_, let cached): out.cached = cached
        case .failed(let e): out.error = e
        }
    }
    return out
}

@Suite(.serialized) struct SchedulerTests {
    let loaded: LoadedModel
    init() throws { loaded = try LoadedModel.open(smolLM2Path) }

    func scheduler(_ options: Scheduler.Options = Scheduler.Options()) throws -> Scheduler {
        Scheduler(engine: try InferenceEngine(model: loaded.model, contextLength: 2048), endTokens: loaded.endTokens, options: options) {
            [loaded] in loaded.bytes(of: $0)
        }
    }

    func greedy(_ n: Int) -> GenerationSettings {
        var s = GenerationSettings()
        s.maxTokens = n
        s.sampling = .greedy
        return s
    }

    /// Six requests submitted together decode in one batch and each gets exactly the text it gets alone.
    @Test func concurrentJobsGetTheirTextAlone() async throws {
        let prompts = ["The capital of France is", "def add(a, b):", "Once upon a time", "1, 2, 3, 4,",
                       "<|im_start|>user\nName a color.<|im_end|>\n<|im_start|>assistant\n", "Water boils at"]
        let alone = try prompts.map { p -> String in
            try loaded.generator().generate(prompt: loaded.encode(p, special: true), settings: greedy(20)).text
        }
        let s = try scheduler()
        defer { s.shutdown() }
        let streams = try prompts.map { try s.submit(JobRequest(prompt: loaded.encode($0, special: true), settings: greedy(20))) }
        var outs: [JobOutput] = []
        for stream in streams { outs.append(await collect(stream)) }
        for (p, (a, o)) in zip(prompts, zip(alone, outs)) {
            #expect(o.texts[0] == a, "\(p): \(o.texts[0]) vs alone \(a)")
            #expect(o.reasons[0] != nil && o.error == nil)
        }
    }

    /// A second request that extends the first (a chat's next turn) starts from its cached prefix; `n` choices
    /// with a seed differ from each other and repeat exactly.
    @Test func prefixReuseChoicesAndSeeds() async throws {
        let s = try scheduler()
        defer { s.shutdown() }
        let first = loaded.encode("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n", special: true)
        let a = await collect(try s.submit(JobRequest(prompt: first, settings: greedy(12))))
        let second = first + loaded.encode(a.texts[0] + "<|im_end|>\n<|im_start|>user\nAnd Spain?<|im_end|>\n", special: true, addBOS: false)
        let b = await collect(try s.submit(JobRequest(prompt: second, settings: greedy(8))))
        #expect(b.cached >= first.count, "the second turn reused \(b.cached) of \(second.count) prompt tokens")
        var sampled = GenerationSettings()
        sampled.maxTokens = 16
        sampled.sampling.temperature = 1.0
        sampled.sampling.seed = 11
        let request = JobRequest(prompt: loaded.encode("Once upon a time", special: false), settings: sampled, choices: 3)
        let c1 = await collect(try s.submit(request), choices: 3)
        let c2 = await collect(try s.submit(request), choices: 3)
        #expect(c1.texts == c2.texts, "the same seed gives the same texts")
        #expect(Set(c1.texts).count > 1, "choices differ: \(c1.texts)")
    }

    /// Log-probabilities: the chosen token's, and the most likely alternatives in order (greedy takes the first).
    @Test func logprobs() async throws {
        let s = try scheduler()
        defer { s.shutdown() }
        let out = await collect(try s.submit(JobRequest(prompt: loaded.encode("The capital of France is", special: false),
                                                        settings: greedy(6), topLogprobs: 3)))
        #expect(out.logprobs[0].count == 6)
        for t in out.logprobs[0] {
            #expect(t.top.count == 3 && t.top[0].token == t.token && abs(t.top[0].logprob - t.logprob) < 1e-6 && t.logprob <= 0)
            #expect(t.top[0].logprob >= t.top[1].logprob && t.top[1].logprob >= t.top[2].logprob)
        }
    }

    /// A full queue refuses, a time limit fails the job, and a consumer that goes away frees its sequence.
    @Test func limitsAndCancellation() async throws {
        var options = Scheduler.Options()
        options.maxSequences = 1
        options.maxQueue = 1
        options.cachedSequences = 0
        let s = try scheduler(options)
        defer { s.shutdown() }
        let prompt = loaded.encode("Once upon a time, in a land far away,", special: false)
        var queued: JobHandle?
        do {
            let long = try s.submit(JobRequest(prompt: prompt, settings: greedy(400)))
            var iterator = long.events.makeAsyncIterator()
            _ = await iterator.next()  // running now: the queue is empty
            queued = try s.submit(JobRequest(prompt: prompt, settings: greedy(2)))
            #expect(throws: SchedulerBusy.self) { try s.submit(JobRequest(prompt: prompt, settings: greedy(2))) }
        }  // the running job's handle is gone: it is cancelled, and the queued job takes its place and finishes
        let short = await collect(queued!)
        #expect(short.reasons[0] == .length && short.error == nil, "\(short)")
        var limited = JobRequest(prompt: prompt, settings: greedy(400))
        limited.timeLimit = .milliseconds(300)
        let timed = await collect(try s.submit(limited))
        #expect(timed.error?.description.contains("time limit") == true, "\(timed)")
        try await Task.sleep(for: .milliseconds(200))
        #expect(s.snapshot.activeSequences == 0 && s.snapshot.kvBlocks == 0, "\(s.snapshot)")
    }
}
