// Scheduler: continuous batching for a server. Jobs wait in a bounded queue; between steps, waiting jobs join the
// running batch (as many sequences as allowed) and finished ones leave. A step runs, as one engine batch, the next
// prompt chunk of every job still reading its prompt and the last sampled token of every sequence generating. A
// job's prompt starts from the longest prefix already in the cache — a finished sequence kept for reuse (a chat's
// earlier turns) or a running one (a shared system prompt) — forked with copy on write, so only the rest is
// computed. `n` choices share their prompt's blocks. A job whose consumer goes away is dropped at the next step and
// its blocks freed. The loop runs on its own thread; results go out through an AsyncStream per job.
import ForgeCore
import ForgeModels
import Foundation

/// What a client asks the scheduler for.
public struct JobRequest: Sendable {
    public var prompt: [Int32]
    public var settings: GenerationSettings
    /// Independent completions of the same prompt (OpenAI's `n`); choice i samples with seed + i.
    public var choices = 1
    /// Log-probabilities of each token and of this many alternatives (nil: none).
    public var topLogprobs: Int?
    /// The job fails once it has run this long.
    public var timeLimit: Duration?
    /// Keep generating past end tokens until max tokens (for benchmarks: every request does the same work).
    public var ignoreEndTokens = false

    public init(prompt: [Int32], settings: GenerationSettings, choices: Int = 1, topLogprobs: Int? = nil, timeLimit: Duration? = nil) {
        (self.prompt, self.settings, self.choices, self.topLogprobs, self.timeLimit) = (prompt, settings, choices, topLogprobs, timeLimit)
    }
}

/// A generated token with its log-probability and the most likely alternatives (ids and log-probabilities).
public struct TokenLogprob: Sendable {
    public var token: Int32
    public var logprob: Float
    public var top: [(token: Int32, logprob: Float)]
}

/// What a job streams back.
public enum JobEvent: Sendable {
    /// Text of choice `index` and the tokens that produced it (with log-probabilities when asked).
    case text(index: Int, text: String, tokens: [TokenLogprob])
    /// Choice `index` ended after `completionTokens` tokens.
    case finished(index: Int, reason: FinishReason, completionTokens: Int)
    /// Every choice ended: the prompt's tokens, of which `cachedTokens` came from the prefix cache.
    case done(promptTokens: Int, cachedTokens: Int)
    /// The job could not run or was stopped (too long a prompt, time limit, cache exhausted).
    case failed(ForgeError)
}

/// The queue was full: try again later.
public struct SchedulerBusy: Error, Sendable {
    public let queued: Int
}

/// Live numbers for metrics.
public struct SchedulerStats: Sendable {
    public var queued = 0
    public var activeSequences = 0
    public var cachedSequences = 0
    public var kvBlocks = 0
    public var kvBytes = 0
}

public final class Scheduler: @unchecked Sendable {
    public struct Options: Sendable {
        /// Sequences decoding at once (choices of one job count each).
        public var maxSequences = 16
        /// Jobs waiting for a place; more are refused (`SchedulerBusy`).
        public var maxQueue = 64
        /// Finished sequences kept for their prefixes.
        public var cachedSequences = 32
        /// Prompt tokens one job computes per step (long prompts do not stall the others' decoding).
        public var prefillChunk = 256
        public init() {}
    }

    public let engine: InferenceEngine
    public let options: Options
    let bytesOf: (Int32) -> [UInt8]
    let endTokens: Set<Int32>
    let lock = NSCondition()
    var queue: [Job] = []
    var running = true
    var stats = SchedulerStats()
    // Owned by the loop's thread.
    var active: [Job] = []
    var cache: [(sequence: Int, tokens: [Int32], used: Int)] = []
    var clock = 0

    /// A scheduler over `engine`; `bytesOf` gives a token's text bytes, `endTokens` end a choice.
    public init(engine: InferenceEngine, endTokens: Set<Int32>, options: Options = Options(), bytesOf: @escaping (Int32) -> [UInt8]) {
        self.engine = engine
        self.options = options
        self.endTokens = endTokens
        self.bytesOf = bytesOf
        // The thread holds the scheduler until `shutdown()` lets the loop end.
        let thread = Thread { self.loop() }
        thread.name = "forge-scheduler"
        thread.start()
    }

    /// Queues a job; its events arrive on the handle's stream. Throws `SchedulerBusy` when the queue is full.
    /// Cancelling the handle, cancelling the task that reads the stream, or dropping the handle ends the job at the
    /// next step (open choices report `.finished(.cancelled)` with their token counts, then `.done`) and frees its sequences.
    public func submit(_ request: JobRequest) throws -> JobHandle {
        let (stream, continuation) = AsyncStream<JobEvent>.makeStream(bufferingPolicy: .unbounded)
        let job = Job(request, continuation: continuation)
        continuation.onTermination = { [weak job] _ in job?.cancel() }
        lock.lock()
        defer { lock.unlock() }
        guard running else { throw ForgeError("the server is shutting down") }
        guard queue.count < options.maxQueue else { throw SchedulerBusy(queued: queue.count) }
        queue.append(job)
        stats.queued = queue.count
        lock.signal()
        return JobHandle(job: job, events: stream)
    }

    /// Queue depth, running sequences and cache use.
    public var snapshot: SchedulerStats { lock.lock(); defer { lock.unlock() }; return stats }

    /// Stops taking jobs; running ones finish, then the loop ends.
    public func shutdown() {
        lock.lock()
        running = false
        lock.signal()
        lock.unlock()
    }

    // MARK: - The loop

    func loop() {
        while true {
            lock.lock()
            while queue.isEmpty && active.isEmpty && running { lock.wait() }
            if !running && queue.isEmpty && active.isEmpty { lock.unlock(); return }
            var admitted: [Job] = []
            var slots = options.maxSequences - active.reduce(0) { $0 + $1.request.choices }
            while let job = queue.first, job.request.choices <= max(slots, active.isEmpty && admitted.isEmpty ? job.request.choices : 0) {
                queue.removeFirst()
                slots -= job.request.choices
                admitted.append(job)
            }
            stats.queued = queue.count
            lock.unlock()
            for job in admitted { admit(job) }
            step()
            lock.lock()
            let usage = engine.cache.usage
            stats.activeSequences = active.reduce(0) { $0 + $1.choiceStates.filter { !$0.finished }.count + ($1.prefilling ? 1 : 0) }
            stats.cachedSequences = cache.count
            stats.kvBlocks = usage.blocks
            stats.kvBytes = usage.bytes
            lock.unlock()
        }
    }

    /// Starts a job: its prompt from the longest cached or running prefix.
    func admit(_ job: Job) {
        let prompt = job.request.prompt
        guard !prompt.isEmpty else { return fail(job, ForgeError("the prompt is empty (no tokens)")) }
        guard prompt.count < engine.contextLength else {
            return fail(job, ForgeError("the prompt has \(prompt.count) tokens; the context window holds \(engine.contextLength)"))
        }
        if let bad = prompt.first(where: { $0 < 0 || Int($0) >= engine.model.config.vocabSize }) {
            return fail(job, ForgeError("token id \(bad) is outside the vocabulary of \(engine.model.config.vocabSize)"))
        }
        // Candidates: cached sequences and the computed part of running ones (at least one prompt token must run).
        var best: (sequence: Int, length: Int, cacheIndex: Int?) = (-1, 0, nil)
        func consider(_ sequence: Int, _ tokens: [Int32], _ index: Int?) {
            let limit = min(tokens.count, engine.cache.length(sequence), prompt.count - 1)
            var n = 0
            while n < limit && tokens[n] == prompt[n] { n += 1 }
            if n > best.length { best = (sequence, n, index) }
        }
        for (i, entry) in cache.enumerated() { consider(entry.sequence, entry.tokens, i) }
        for other in active {
            for s in other.sequences { consider(s, engine.tokens(of: s), nil) }
        }
        let sequence: Int
        if best.length > 0 {
            sequence = engine.fork(best.sequence, length: best.length)
            if let i = best.cacheIndex { clock += 1; cache[i].used = clock }
        } else {
            sequence = engine.newSequence()
        }
        job.start(sequence: sequence, cached: best.length)
        active.append(job)
    }

    /// One engine step for every active job.
    func step() {
        let now = ContinuousClock.now
        for job in active where !job.isDone {
            if job.isCancelled {
                // Counted for the caller's records: each open choice ends as cancelled with the tokens it had.
                for i in job.choiceStates.indices where !job.choiceStates[i].finished {
                    job.choiceStates[i].finished = true
                    job.continuation.yield(.finished(index: i, reason: .cancelled, completionTokens: job.choiceStates[i].generated))
                }
                job.continuation.yield(.done(promptTokens: job.request.prompt.count, cachedTokens: job.cached))
                job.end()
                continue
            }
            if let limit = job.request.timeLimit, now - job.started > limit {
                fail(job, ForgeError("the request ran longer than its time limit of \(limit.components.seconds) s"))
            }
        }
        retire()
        guard !active.isEmpty else { return }
        var requests: [DecodeRequest] = [], owners: [(Job, Int?)] = []  // choice index, or nil for a prompt chunk
        for job in active {
            if job.prefilling {
                let chunk = Array(job.remaining.prefix(options.prefillChunk))
                let last = chunk.count == job.remaining.count
                requests.append(DecodeRequest(sequence: job.promptSequence, tokens: chunk, logits: last ? .last : .none))
                owners.append((job, nil))
            } else {
                for (i, c) in job.choiceStates.enumerated() where !c.finished {
                    requests.append(DecodeRequest(sequence: c.sequence, tokens: [c.last], logits: .last))
                    owners.append((job, i))
                }
            }
        }
        var logits: [[Float]]
        do {
            logits = try engine.decode(requests)
        } catch {
            // The cache may be full of reusable prefixes: drop them and try once more before failing the step.
            evictCache(all: true)
            do { logits = try engine.decode(requests) } catch let e as ForgeError {
                for (job, _) in owners { fail(job, e) }
                retire()
                return
            } catch { return }
        }
        for ((job, choice), row) in zip(owners, logits) where !job.isDone {
            if let choice {
                sample(job, choice, row)
            } else {
                let n = min(options.prefillChunk, job.remaining.count)
                job.remaining.removeFirst(n)
                if job.remaining.isEmpty { beginChoices(job, row) }
            }
        }
        retire()
    }

    /// The prompt is in: fork a sequence per extra choice and sample every choice's first token.
    func beginChoices(_ job: Job, _ logits: [Float]) {
        job.prefilling = false
        let base = job.promptSequence
        for i in 0..<job.request.choices {
            let sequence = i == 0 ? base : engine.fork(base)
            if i > 0 { job.sequences.append(sequence) }
            var settings = job.request.settings.sampling
            settings.seed &+= UInt64(i)
            job.choiceStates.append(ChoiceState(sequence: sequence,
                                                sampler: Sampler(settings, constraint: job.request.settings.constraint),
                                                text: TextStream(stops: job.request.settings.stop, bytesOf: bytesOf)))
        }
        for i in 0..<job.request.choices { sample(job, i, logits) }
    }

    func sample(_ job: Job, _ i: Int, _ logits: [Float]) {
        var c = job.choiceStates[i]
        let token = c.sampler.sample(logits, history: engine.tokens(of: c.sequence))
        let max = job.request.settings.maxTokens
        if endTokens.contains(token) && !job.request.ignoreEndTokens {
            finish(job, i, &c, .stop)
        } else {
            c.generated += 1
            c.last = token
            let info = job.request.topLogprobs.map { [Self.logprobs(logits, token, top: $0)] } ?? []
            let text = c.text.push(token)
            if !text.isEmpty || !info.isEmpty { job.continuation.yield(.text(index: i, text: text, tokens: info)) }
            if c.text.stopped {
                finish(job, i, &c, .stop)
            } else if c.generated >= max || engine.cache.length(c.sequence) + 1 >= engine.contextLength {
                finish(job, i, &c, .length)
            }
        }
        job.choiceStates[i] = c
    }

    func finish(_ job: Job, _ i: Int, _ c: inout ChoiceState, _ reason: FinishReason) {
        let rest = c.text.finish()
        if !rest.isEmpty { job.continuation.yield(.text(index: i, text: rest, tokens: [])) }
        c.finished = true
        job.continuation.yield(.finished(index: i, reason: reason, completionTokens: c.generated))
    }

    func fail(_ job: Job, _ error: ForgeError) {
        guard !job.isDone else { return }
        job.continuation.yield(.failed(error))
        job.end()
    }

    /// Ends jobs whose choices are all done: their sequences go to the prefix cache (the most recent kept).
    func retire() {
        for job in active where !job.isDone && !job.prefilling && !job.choiceStates.isEmpty && job.choiceStates.allSatisfy(\.finished) {
            job.continuation.yield(.done(promptTokens: job.request.prompt.count, cachedTokens: job.cached))
            job.end()
        }
        for job in active where job.isDone {
            for s in job.sequences {
                clock += 1
                cache.append((s, engine.tokens(of: s), clock))
            }
            job.sequences.removeAll()
        }
        active.removeAll { $0.isDone }
        evictCache(all: false)
    }

    func evictCache(all: Bool) {
        cache.sort { $0.used > $1.used }
        while cache.count > (all ? 0 : options.cachedSequences) { engine.release(cache.removeLast().sequence) }
    }

    /// log softmax(logits)[token] and the `top` largest entries.
    static func logprobs(_ logits: [Float], _ token: Int32, top: Int) -> TokenLogprob {
        let m = logits.max()!
        var z = 0.0
        for v in logits { z += exp(Double(v - m)) }
        let lse = Double(m) + log(z)
        var best: [(Int32, Float)] = []
        if top > 0 {
            var heap: [Int] = []
            for i in logits.indices where heap.count < top || logits[i] > logits[heap.last!] {
                var lo = 0, hi = heap.count
                while lo < hi { let mid = (lo + hi) / 2; if logits[heap[mid]] >= logits[i] { lo = mid + 1 } else { hi = mid } }
                heap.insert(i, at: lo)
                if heap.count > top { heap.removeLast() }
            }
            best = heap.map { (Int32($0), Float(Double(logits[$0]) - lse)) }
        }
        return TokenLogprob(token: token, logprob: Float(Double(logits[Int(token)]) - lse), top: best)
    }
}

/// A submitted job, as its client holds it: its events, and a way to stop it (also when the handle goes away).
public final class JobHandle: @unchecked Sendable {
    let job: Job
    public let events: AsyncStream<JobEvent>
    init(job: Job, events: AsyncStream<JobEvent>) { (self.job, self.events) = (job, events) }
    /// Stops the job; the scheduler frees its sequences at the next step.
    public func cancel() { job.cancel() }
    deinit { job.cancel() }
}

/// One choice of a job: its sequence, sampler and text.
struct ChoiceState {
    var sequence: Int
    var sampler: Sampler
    var text: TextStream
    var generated = 0
    var last: Int32 = 0
    var finished = false
}

/// A job in the scheduler.
final class Job: @unchecked Sendable {
    let request: JobRequest
    let continuation: AsyncStream<JobEvent>.Continuation
    let started = ContinuousClock.now
    let lock = NSLock()
    var cancelled = false
    var isDone = false
    var prefilling = true
    var promptSequence = -1
    var remaining: ArraySlice<Int32> = []
    var cached = 0
    var choiceStates: [ChoiceState] = []
    /// Sequences the job holds in the engine.
    var sequences: [Int] = []

    init(_ request: JobRequest, continuation: AsyncStream<JobEvent>.Continuation) {
        self.request = request
        self.continuation = continuation
    }

    func start(sequence: Int, cached: Int) {
        promptSequence = sequence
        self.cached = cached
        remaining = request.prompt[cached...]
        sequences = [sequence]
    }

    func cancel() { lock.lock(); cancelled = true; lock.unlock() }
    var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return cancelled }

    func end() {
        isDone = true
        continuation.finish()
    }
}
