// Evaluator: runs one task on one model: selects the items (a stratified sample with --limit), builds their contexts,
// scores them through the batched engine (multiple choice, perplexity) or the scheduler (generation, code), and
// gathers per-item records and the task's metrics.
import ForgeCore
import ForgeInference
import ForgeModels
import ForgeTokenizer
import Foundation

/// Settings of an evaluation run.
public struct EvalOptions: Sendable {
    /// Shots (nil: the task's own number).
    public var shots: Int?
    public var chat = false
    public var multiturn = false
    /// Evaluate at most this many items, sampled by group in proportion (nil: all).
    public var limit: Int?
    /// Seed of the --limit sample.
    public var seed: UInt64 = 1234
    /// Evaluate exactly these rows (indices in the task's data), e.g. to compare with a fixture.
    public var only: Set<Int>?
    /// Most positions a sequence holds (nil: the model's, at most 8192).
    public var contextLength: Int?
    /// Float32 by default: scores should not carry the cache's rounding.
    public var cacheType: KVCacheType = .f32
    /// Sequences generating at once.
    public var maxSequences = 16
    /// Samples per problem for code tasks (nil: the task's).
    public var samples: Int?
    /// Given completions per item index (generation and code tasks): scored as they are, nothing generated.
    public var completions: [Int: [String]]?
    /// Where multiple-choice scores are kept as they are computed, so that a rerun resumes (nil: nowhere).
    public var scoreCache: ScoreCache?
    public init() {}
}

/// A progress report: items done of total, the running score and elapsed seconds.
public struct EvalProgress: Sendable {
    public var task: String
    public var done: Int
    public var total: Int
    public var metric: String
    public var score: Double
    public var seconds: Double
}

/// What one task gave: its metrics, per-group scores and per-item records.
public struct TaskResult: @unchecked Sendable {
    public var task: String
    public var kind: TaskKind
    public var n: Int
    /// metric → (value, standard error).
    public var metrics: [(name: String, value: Double, stderr: Double)]
    public var groups: [(name: String, n: Int, metrics: [(String, Double)])]
    public var records: [[String: Any]]
    public var settings: [String: Any]
    public var seconds: Double
    public var itemsPerSecond: Double { seconds > 0 ? Double(n) / seconds : 0 }
}

public final class Evaluator {
    public let loaded: LoadedModel
    public let options: EvalOptions
    let contextLength: Int

    public init(model: LoadedModel, options: EvalOptions) throws {
        loaded = model
        self.options = options
        contextLength = min(options.contextLength ?? min(model.model.config.contextLength, 8192), model.model.config.contextLength)
        guard contextLength >= 16 else { throw ForgeError("a context of \(contextLength) positions is too short to evaluate") }
    }

    /// The items of `spec` this run evaluates: all, or a sample stratified by group, in file order.
    public static func select(_ items: [EvalItem], limit: Int?, seed: UInt64) -> [EvalItem] {
        guard let limit, limit < items.count else { return items }
        let groups = Dictionary(grouping: items, by: \.group)
        let names = groups.keys.sorted()
        // Largest remainders: each group gets its share of `limit`, rounded so that the shares add up.
        let exact = names.map { Double(limit) * Double(groups[$0]!.count) / Double(items.count) }
        var quota = exact.map { Int($0) }
        let order = names.indices.sorted { (exact[$0] - Double(quota[$0]), names[$1]) > (exact[$1] - Double(quota[$1]), names[$0]) }
        for i in order.prefix(limit - quota.reduce(0, +)) { quota[i] += 1 }
        var rng = SplitMix64(seed: seed)
        var chosen = Set<Int>()
        for (g, name) in names.enumerated() {
            var pool = groups[name]!.map(\.index)
            for k in 0..<quota[g] {
                let j = k + Int(rng.next() % UInt64(pool.count - k))
                pool.swapAt(k, j)
                chosen.insert(pool[k])
            }
        }
        return items.filter { chosen.contains($0.index) }
    }

    /// Tokens as lm-eval's Hugging Face backend makes them: the tokenizer's own special tokens, markers in the text parsed.
    func encode(_ text: String) -> [Int32] { loaded.encode(text, special: true, addBOS: true) }

    /// The token that conditions an empty context (lm-eval's prefix token: end of text).
    var prefixToken: Int32 { loaded.tokenizer.eosId ?? loaded.tokenizer.bosId ?? 0 }

    func chatRenderer() -> ((_ messages: [ChatMessage]) throws -> String)? {
        guard options.chat else { return nil }
        return { [loaded] messages in
            guard let t = loaded.chatTemplate else { throw ForgeError("--chat needs a model with a chat template") }
            do { return try t.render(messages, addGenerationPrompt: true, bosToken: loaded.bosText, eosToken: loaded.eosText) }
            catch let e as ChatTemplateError { throw ForgeError("chat template: \(e.description)") }
        }
    }

    /// Runs `spec`, reporting progress after each batch.
    public func run(_ spec: TaskSpec, progress: @escaping (EvalProgress) -> Void = { _ in }) async throws -> TaskResult {
        switch spec.kind {
        case .multipleChoice: return try multipleChoice(spec, progress: progress)
        case .generate, .code: return try await generate(spec, progress: progress)
        case .perplexity: return try perplexity(spec, progress: progress)
        }
    }

    /// Runs a multiple-choice or perplexity task without the scheduler (callers that are not async).
    public func score(_ spec: TaskSpec, progress: @escaping (EvalProgress) -> Void = { _ in }) throws -> TaskResult {
        switch spec.kind {
        case .multipleChoice: return try multipleChoice(spec, progress: progress)
        case .perplexity: return try perplexity(spec, progress: progress)
        case .generate, .code: throw ForgeError("task \(spec.name): \(spec.kind.rawValue) tasks run through run(_:), which is async")
        }
    }

    func settings(_ spec: TaskSpec, shots: Int, total: Int) -> [String: Any] {
        var s: [String: Any] = ["shots": shots, "chat": options.chat, "multiturn": options.multiturn, "fewshot_sampler": spec.fewshotSampler,
                                "fewshot_seed": Int(spec.fewshotSeed), "context_length": contextLength, "cache_type": options.cacheType.rawValue,
                                "items_available": total]
        if let l = options.limit { s["limit"] = l; s["limit_seed"] = Int(options.seed) }
        return s
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    // MARK: Multiple choice

    func multipleChoice(_ spec: TaskSpec, progress: @escaping (EvalProgress) -> Void) throws -> TaskResult {
        let start = ContinuousClock.now
        let all = try TaskData.load(spec)
        let shots = options.shots ?? spec.shots
        let fewshot = try FewShot(spec: spec, items: all, mode: PromptMode(shots: shots, chat: options.chat, multiturn: options.multiturn))
        let items = options.only.map { only in all.filter { only.contains($0.index) } } ?? Self.select(all, limit: options.limit, seed: options.seed)
        let render = chatRenderer()
        var requests: [ScoreRequest] = []
        for item in items {
            let built = try fewshot.context(for: item, template: render)
            var context = built.text
            let delimiter = built.delimiter
            let key = item.description + "\u{1}" + fewshot.shots(for: item).map { String($0.index) }.joined(separator: ",")
            // lm-eval's split: trailing whitespace of the context belongs to the continuation.
            var moved = ""
            while let last = context.unicodeScalars.last, last.properties.isWhitespace {
                moved = String(last) + moved
                context.unicodeScalars.removeLast()
            }
            let conts = item.choices.map { moved + delimiter + $0 }
            if context.isEmpty {
                requests.append(ScoreRequest(context: [prefixToken], continuations: conts.map(encode), prefixKey: key))
                continue
            }
            let ctx = encode(context)
            let continuations = conts.map { Array(encode(context + $0).dropFirst(ctx.count)) }
            requests.append(ScoreRequest(context: ctx, continuations: continuations, prefixKey: key))
        }
        let engine = try InferenceEngine(model: loaded.model, contextLength: contextLength, cacheType: options.cacheType)
        let scorer = LoglikelihoodScorer(engine: engine)
        var correct = 0.0
        // Items whose scores the cache holds are not computed again.
        var scores = [[ContinuationScore]](repeating: [], count: items.count)
        var pending: [Int] = []
        for i in items.indices {
            if let cached = options.scoreCache?.lookup(requests[i]) {
                scores[i] = cached
                correct += Metrics.accuracy(cached.map(\.logLikelihood), gold: items[i].gold!)
            } else {
                pending.append(i)
            }
        }
        let fromCache = items.count - pending.count
        if fromCache > 0 {
            progress(EvalProgress(task: spec.name, done: fromCache, total: items.count, metric: "acc", score: correct / Double(fromCache),
                                  seconds: Self.seconds(since: start)))
        }
        var storeError: Error?
        let computed = try scorer.score(pending.map { requests[$0] }) { done, batch in
            let first = done - batch.count
            for (k, s) in batch.enumerated() {
                correct += Metrics.accuracy(s.map(\.logLikelihood), gold: items[pending[first + k]].gold!)
            }
            if let cache = options.scoreCache, storeError == nil {
                do { try cache.store(batch.enumerated().map { (requests[pending[first + $0.offset]], $0.element) }) }
                catch { storeError = error }
            }
            progress(EvalProgress(task: spec.name, done: fromCache + done, total: items.count, metric: "acc",
                                  score: correct / Double(fromCache + done), seconds: Self.seconds(since: start)))
        }
        if let storeError { throw ForgeError("score cache \(options.scoreCache!.path): \(storeError)") }
        for (k, i) in pending.enumerated() { scores[i] = computed[k] }
        var records: [[String: Any]] = []
        var acc: [Double] = [], accNorm: [Double] = []
        for (i, item) in items.enumerated() {
            let lls = scores[i].map(\.logLikelihood)
            let a = Metrics.accuracy(lls, gold: item.gold!), an = Metrics.normalizedAccuracy(lls, choices: item.choices, gold: item.gold!)
            acc.append(a); accNorm.append(an)
            var r: [String: Any] = ["index": item.index, "gold": item.gold!, "loglikelihoods": lls,
                                    "greedy": scores[i].map(\.greedy), "acc": a, "acc_norm": an]
            if !item.group.isEmpty { r["group"] = item.group }
            records.append(r)
        }
        var metrics: [(String, Double, Double)] = []
        for m in spec.metrics {
            let v = Metrics.meanAndStderr(m == "acc" ? acc : accNorm)
            metrics.append((m, v.mean, v.stderr))
        }
        var result = TaskResult(task: spec.name, kind: spec.kind, n: items.count, metrics: metrics, groups: [], records: records,
                                settings: settings(spec, shots: shots, total: all.count), seconds: Self.seconds(since: start))
        result.groups = Self.groupScores(items: items, values: spec.metrics.map { $0 == "acc" ? acc : accNorm }, names: spec.metrics)
        result.settings["prompt_tokens_computed"] = scorer.computedTokens
        result.settings["prompt_tokens_reused"] = scorer.reusedTokens
        if options.scoreCache != nil { result.settings["items_from_cache"] = fromCache }
        return result
    }

    static func groupScores(items: [EvalItem], values: [[Double]], names: [String]) -> [(name: String, n: Int, metrics: [(String, Double)])] {
        let byGroup = Dictionary(grouping: items.indices, by: { items[$0].group })
        guard byGroup.count > 1 else { return [] }
        return byGroup.keys.sorted().map { g in
            let idx = byGroup[g]!
            let means = zip(names, values).map { name, v in (name, idx.reduce(0.0) { $0 + v[$1] } / Double(idx.count)) }
            return (g, idx.count, means)
        }
    }

    // MARK: Generation and code

    func generate(_ spec: TaskSpec, progress: @escaping (EvalProgress) -> Void) async throws -> TaskResult {
        let start = ContinuousClock.now
        let all = try TaskData.load(spec)
        let shots = options.shots ?? spec.shots
        let fewshot = try FewShot(spec: spec, items: all, mode: PromptMode(shots: shots, chat: options.chat, multiturn: options.multiturn))
        let only = options.only ?? options.completions.map { Set($0.keys) }
        let items = only.map { only in all.filter { only.contains($0.index) } } ?? Self.select(all, limit: options.limit, seed: options.seed)
        let render = chatRenderer()
        let samples = spec.kind == .code ? (options.samples ?? options.completions?.values.first?.count ?? spec.samples) : 1
        var settingsBase = GenerationSettings()
        settingsBase.maxTokens = spec.maxTokens
        settingsBase.stop = spec.until
        settingsBase.sampling.temperature = samples > 1 ? max(spec.temperature, 0.2) : spec.temperature
        settingsBase.sampling.topK = 0
        settingsBase.sampling.topP = 0.95
        settingsBase.sampling.minP = 0
        let prompts = try items.map { item -> [Int32] in
            let text = try fewshot.context(for: item, template: render).text
            var tokens = text.isEmpty ? [prefixToken] : encode(text)
            // Left truncation as lm-eval: room for the generated tokens.
            let room = contextLength - spec.maxTokens - 1
            if tokens.count > room { tokens.removeFirst(tokens.count - max(1, room)) }
            return tokens
        }
        let engine = try InferenceEngine(model: loaded.model, contextLength: contextLength, cacheType: options.cacheType)
        var schedulerOptions = Scheduler.Options()
        schedulerOptions.maxSequences = options.maxSequences
        schedulerOptions.maxQueue = max(64, items.count)
        let scheduler = Scheduler(engine: engine, endTokens: loaded.endTokens, options: schedulerOptions) { [loaded] in loaded.bytes(of: $0) }
        defer { scheduler.shutdown() }

        func job(_ i: Int) -> JobRequest {
            var s = settingsBase
            s.sampling.seed = options.seed &+ UInt64(items[i].index)
            return JobRequest(prompt: prompts[i], settings: s, choices: samples)
        }
        func collect(_ handle: JobHandle) async throws -> (texts: [String], cached: Int) {
            var texts = Array(repeating: "", count: samples), cached = 0
            for await e in handle.events {
                switch e {
                case .text(let c, let t, _): texts[c] += t
                case .done(_, let c): cached = c
                case .failed(let err): throw err
                case .finished: break
                }
            }
            return (texts, cached)
        }
        var reused = 0
        var done = 0, score = 0.0
        let sandbox = spec.kind == .code ? Sandbox() : nil
        let metricName = spec.kind == .code ? "pass@1" : "exact_match"
        var perItem = [[String: Any]](repeating: [:], count: items.count)
        var values: [String: [Double]] = [:]

        func finish(_ i: Int, _ texts: [String]) {
            let item = items[i]
            var r: [String: Any] = ["index": item.index]
            if !item.group.isEmpty { r["group"] = item.group }
            if spec.kind == .generate {
                let reference = item.target ?? ""
                r["response"] = texts[0]
                r["target"] = reference
                let filters = spec.extract.isEmpty ? [Extraction(name: "none", regex: "(?s)^.*$")] : spec.extract
                for f in filters {
                    let answer = f.name == "none" ? texts[0] : Metrics.extract(texts[0], regex: f.regex, groupSelect: f.groupSelect)
                    let em = Metrics.exactMatch(answer, reference, ignore: spec.ignore, ignoreCase: spec.ignoreCase)
                    r["answer_" + f.name] = answer
                    r["exact_match_" + f.name] = em
                    values["exact_match," + f.name, default: []].append(em)
                }
                score += r["exact_match_" + filters[0].name] as! Double
            } else {
                var passed = 0
                var outcomes: [String] = []
                for t in texts {
                    var vars = item.variables
                    vars["completion"] = .string(t)
                    let program = (try? RowTemplate(spec.program!).render(vars)) ?? ""
                    let outcome = sandbox!.run(python: program, timeout: spec.timeoutSeconds)
                    outcomes.append(outcome.status)
                    if outcome.passed { passed += 1 }
                }
                r["completions"] = texts
                r["outcomes"] = outcomes
                r["passed"] = passed
                for m in spec.metrics {
                    let k = Int(m.dropFirst(5))!
                    let v = Metrics.passAtK(n: texts.count, c: passed, k: k)
                    r[m] = v
                    values[m, default: []].append(v)
                }
                score += Metrics.passAtK(n: texts.count, c: passed, k: 1)
            }
            perItem[i] = r
        }

        if let given = options.completions {
            // Completions from elsewhere (another model, a file): scored as they are.
            for (i, item) in items.enumerated() {
                guard let texts = given[item.index], !texts.isEmpty else { throw ForgeError("no completion given for item \(item.index)") }
                finish(i, texts)
                done += 1
                progress(EvalProgress(task: spec.name, done: done, total: items.count, metric: metricName, score: score / Double(done),
                                      seconds: Self.seconds(since: start)))
            }
        } else {
        // The first item alone, so that the shared few-shot prefix is in the cache before the rest arrive.
        try await withThrowingTaskGroup(of: (Int, [String], Int).self) { group in
            var next = 0
            func submit() throws -> Bool {
                guard next < items.count else { return false }
                let i = next
                next += 1
                let handle = try scheduler.submit(job(i))
                group.addTask { let (t, c) = try await collect(handle); return (i, t, c) }
                return true
            }
            if try submit(), let (i, t, c) = try await group.next() {
                reused += c; finish(i, t); done += 1
            }
            let window = options.maxSequences * 2
            while group.isEmpty == false || next < items.count {
                while next < items.count && next - done < window { _ = try submit() }
                guard let (i, t, c) = try await group.next() else { break }
                reused += c; finish(i, t); done += 1
                progress(EvalProgress(task: spec.name, done: done, total: items.count, metric: metricName, score: score / Double(done),
                                      seconds: Self.seconds(since: start)))
            }
        }
        }
        var metrics: [(String, Double, Double)] = []
        let names = spec.kind == .code ? spec.metrics : (spec.extract.isEmpty ? ["none"] : spec.extract.map(\.name)).map { "exact_match," + $0 }
        for m in names {
            let v = Metrics.meanAndStderr(values[m] ?? [])
            metrics.append((m, v.mean, v.stderr))
        }
        var result = TaskResult(task: spec.name, kind: spec.kind, n: items.count, metrics: metrics, groups: [], records: perItem,
                                settings: settings(spec, shots: shots, total: all.count), seconds: Self.seconds(since: start))
        result.settings["max_tokens"] = spec.maxTokens
        result.settings["until"] = spec.until
        result.settings["prompt_tokens"] = prompts.reduce(0) { $0 + $1.count }
        result.settings["prompt_tokens_reused"] = reused
        if spec.kind == .code {
            result.settings["samples"] = samples
            result.settings["temperature"] = Double(settingsBase.sampling.temperature)
            result.settings["sandbox"] = sandbox!.description
        }
        result.groups = Self.groupScores(items: items, values: names.map { values[$0] ?? [] }, names: names)
        return result
    }

    // MARK: Perplexity

    func perplexity(_ spec: TaskSpec, progress: @escaping (EvalProgress) -> Void) throws -> TaskResult {
        let start = ContinuousClock.now
        var docs = try TextDocuments.load(spec.data)
        if let l = options.limit { docs = Array(docs.prefix(l)) }
        let engine = try InferenceEngine(model: loaded.model, contextLength: contextLength, cacheType: options.cacheType)
        var totalLL = 0.0, bytes = 0, words = 0, tokens = 0
        var records: [[String: Any]] = []
        for (d, doc) in docs.enumerated() {
            let ids = loaded.encode(doc.text, special: false, addBOS: false)
            var ll = 0.0
            for w in Self.rollingWindows(ids, prefix: prefixToken, length: contextLength) {
                ll += try Self.scoreWindow(engine, input: w.input, scored: w.scored, last: w.last)
            }
            let b = doc.text.utf8.count, n = Metrics.wordCount(doc.text)
            totalLL += ll; bytes += b; words += n; tokens += ids.count
            records.append(["document": doc.name, "loglikelihood": ll, "bytes": b, "words": n, "tokens": ids.count])
            progress(EvalProgress(task: spec.name, done: d + 1, total: docs.count, metric: "bits_per_byte",
                                  score: -totalLL / (Double(bytes) * log(2)), seconds: Self.seconds(since: start)))
        }
        var metrics: [(String, Double, Double)] = []
        for m in spec.metrics {
            switch m {
            case "bits_per_byte": metrics.append((m, -totalLL / (Double(bytes) * log(2)), 0))
            case "word_perplexity": metrics.append((m, exp(-totalLL / Double(words)), 0))
            default: metrics.append((m, exp(-totalLL / Double(bytes)), 0))
            }
        }
        var result = TaskResult(task: spec.name, kind: .perplexity, n: docs.count, metrics: metrics, groups: [], records: records,
                                settings: ["context_length": contextLength, "cache_type": options.cacheType.rawValue, "tokens": tokens,
                                           "bytes": bytes, "words": words], seconds: Self.seconds(since: start))
        result.settings["documents_available"] = docs.count
        return result
    }

    /// Σ log P of a window's scored tail: the input fed in chunks, each chunk's logits used and dropped at once.
    static func scoreWindow(_ engine: InferenceEngine, input: [Int32], scored: Int, last: Int32) throws -> Double {
        let seq = engine.newSequence()
        defer { engine.release(seq) }
        let vocab = engine.model.config.vocabSize, firstScored = input.count - scored
        let targets = Array(input.dropFirst()) + [last]
        var ll = 0.0, at = 0
        while at < input.count {
            let chunk = Array(input[at..<min(at + InferenceEngine.maxBatch, input.count)])
            let from = max(0, firstScored - at)
            let rows = try engine.decode([DecodeRequest(sequence: seq, tokens: chunk, logits: from < chunk.count ? .from(from) : .none)])[0]
            for r in 0..<(rows.count / vocab) {
                let row = rows[(r * vocab)..<((r + 1) * vocab)]
                ll += Double(row[row.startIndex + Int(targets[at + from + r])]) - LoglikelihoodScorer.logSumExp(row)
            }
            at += chunk.count
        }
        return ll
    }

    /// lm-eval's rolling windows (context length 1): the first predicts its tokens after the prefix token; each later one
    /// predicts the next up-to-`length` tokens with the `length` tokens before them as input. Returns each window's input
    /// (the tokens fed), how many of its last positions are scored, and the final target token.
    static func rollingWindows(_ tokens: [Int32], prefix: Int32, length: Int) -> [(input: [Int32], scored: Int, last: Int32)] {
        guard !tokens.isEmpty else { return [] }
        var out: [(input: [Int32], scored: Int, last: Int32)] = []
        let first = min(length, tokens.count)
        out.append(([prefix] + tokens[0..<(first - 1)], first, tokens[first - 1]))
        var predicted = first
        while predicted < tokens.count {
            let n = min(tokens.count - predicted, length)
            let end = predicted + n
            out.append((Array(tokens[max(0, end - length - 1)..<(end - 1)]), n, tokens[end - 1]))
            predicted += n
        }
        return out
    }
}
