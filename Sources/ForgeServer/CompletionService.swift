// CompletionService: an OpenAI completion request through the scheduler, independent of HTTP. It renders chat
// requests with the model's own template, tokenizes, applies the limits and the moderator, submits one job per
// prompt (with `n` choices), and gives back either the whole response or its server-sent events, shaped exactly as
// the OpenAI API shapes them (ids, chunks, finish reasons, usage, logprobs).
import ForgeCore
import ForgeInference
import ForgeTokenizer
import Foundation

/// Limits the server applies to every request.
public struct RequestLimits: Sendable {
    /// Most prompt tokens one request may send (after the chat template).
    public var maxPromptTokens = 8192
    /// Most tokens one choice may generate (`max_tokens` above it is refused; absent means this).
    public var maxTokens = 2048
    /// Most choices (`n` × prompts).
    public var maxChoices = 16
    /// Wall time of one request.
    public var timeLimit: Duration = .seconds(300)
    public init() {}
}

/// Timings and counts of one finished request (for logs and metrics).
public struct CompletionRecord: Sendable {
    public var promptTokens = 0
    public var cachedTokens = 0
    public var completionTokens = 0
    public var firstTokenSeconds: Double?
    /// Seconds between successive text events of the first choice.
    public var tokenIntervals: [Double] = []
    public var finishReasons: [String] = []
}

public final class CompletionService: Sendable {
    public let loaded: LoadedModel
    public let scheduler: Scheduler
    /// The name clients use for the model (GET /v1/models, the `model` field).
    public let modelName: String
    public let limits: RequestLimits
    public let moderator: any Moderator
    let created = Int(Date().timeIntervalSince1970)
    /// Response-format grammars bound to the vocabulary, per schema.
    let constraints = ConstraintCache()

    public init(loaded: LoadedModel, scheduler: Scheduler, modelName: String, limits: RequestLimits, moderator: any Moderator) {
        (self.loaded, self.scheduler, self.modelName, self.limits, self.moderator) = (loaded, scheduler, modelName, limits, moderator)
    }

    /// A prompt ready for the scheduler.
    struct Prepared: Sendable {
        var tokens: [Int32]
        var request: JobRequest
    }

    /// A request whose jobs are queued (validation, limits and input moderation have passed).
    public struct Running: Sendable {
        let request: CompletionRequest
        let prepared: [Prepared]
        let handles: [JobHandle]
        public var stream: Bool { request.stream }
        /// Stops its jobs (a client that went away).
        public func cancel() { handles.forEach { $0.cancel() } }
    }

    /// Checks a request and queues its jobs; every refusal is an APIError (400, 404, 429, ...).
    public func begin(_ r: CompletionRequest) throws(APIError) -> Running {
        let prepared = try prepare(r)
        return Running(request: r, prepared: prepared, handles: try submit(prepared))
    }

    /// Checks a parsed request against the model and limits, and turns it into jobs.
    func prepare(_ request: CompletionRequest) throws(APIError) -> [Prepared] {
        var r = request
        guard r.model == modelName else {
            throw APIError(status: 404, "The model `\(r.model)` does not exist or you do not have access to it.", param: "model",
                           code: "model_not_found")
        }
        for (key, value) in r.maxTokensGiven.sorted(by: { $0.key < $1.key }) where value > limits.maxTokens {
            throw .invalid("Invalid '\(key)': \(value) is above this server's limit of \(limits.maxTokens).", param: key,
                           code: "integer_above_max_value")
        }
        let maxTokens = r.maxTokens ?? limits.maxTokens
        // Input moderation before rendering: a guardrail may redact what the model sees.
        if let rewriting = moderator as? any RewritingModerator {
            func reviewed(_ text: String) throws(APIError) -> String {
                let (out, refusal) = rewriting.review(text)
                if let refusal { throw .invalid("Your request was rejected by the content filter: \(refusal.reason).", code: "content_filter") }
                return out
            }
            for i in r.messages.indices where r.messages[i].role == "user" || r.messages[i].role == "system" {
                r.messages[i].content = try reviewed(r.messages[i].content)
            }
            for i in r.prompts.indices { r.prompts[i] = try reviewed(r.prompts[i]) }
        }
        let texts: [String]
        do {
            texts = r.kind == .chat ? [try chatPrompt(r)] : r.prompts
        } catch {
            throw .invalid("The conversation cannot be rendered with this model's chat template: \(error)", param: "messages")
        }
        guard texts.count * r.n <= limits.maxChoices else {
            throw .invalid("\(texts.count * r.n) choices requested; this server allows \(limits.maxChoices) per request.", param: "n")
        }
        let inputs = r.kind == .chat ? r.messages.map(\.content) : r.prompts
        for text in inputs where !(moderator is any RewritingModerator) {
            if let block = moderator.check(text) {
                throw .invalid("Your request was rejected by the content filter: \(block.reason).", code: "content_filter")
            }
        }
        var settings = r.settings(maxTokens: maxTokens)
        if r.kind == .chat { settings.stop += loaded.chatStops + toolStops(r) }
        if let format = r.responseFormat { settings.constraint = try constraints.constraint(format, loaded) }
        var prepared: [Prepared] = []
        for text in texts {
            let tokens = loaded.encode(text, special: r.kind == .chat, addBOS: true)
            guard !tokens.isEmpty else { throw .invalid("The prompt is empty.", param: r.kind == .chat ? "messages" : "prompt") }
            guard tokens.count <= limits.maxPromptTokens else {
                throw APIError(status: 400, "The prompt has \(tokens.count) tokens; this server accepts at most \(limits.maxPromptTokens).",
                               param: r.kind == .chat ? "messages" : "prompt", code: "context_length_exceeded")
            }
            guard tokens.count + 1 < scheduler.engine.contextLength else {
                throw APIError(status: 400, "This model's maximum context length is \(scheduler.engine.contextLength) tokens; "
                               + "the prompt has \(tokens.count).", param: "messages", code: "context_length_exceeded")
            }
            var job = JobRequest(prompt: tokens, settings: settings, choices: r.n, topLogprobs: r.topLogprobs, timeLimit: limits.timeLimit)
            job.ignoreEndTokens = r.ignoreEOS
            prepared.append(Prepared(tokens: tokens, request: job))
        }
        return prepared
    }

    /// Submits every prompt; a full queue is a 429 with Retry-After.
    func submit(_ prepared: [Prepared]) throws(APIError) -> [JobHandle] {
        var handles: [JobHandle] = []
        for p in prepared {
            do { handles.append(try scheduler.submit(p.request)) }
            catch is SchedulerBusy {
                handles.forEach { $0.cancel() }
                throw APIError(status: 429, "The server is busy: its request queue is full. Retry later.", type: "server_error",
                               code: "queue_full", retryAfter: 1)
            } catch {
                handles.forEach { $0.cancel() }
                throw APIError(status: 503, "\(error)", type: "server_error", code: "unavailable", retryAfter: 1)
            }
        }
        return handles
    }

    // MARK: - Running a request

    /// One event of a request's output, merged over its jobs (choice indices are global).
    enum Output {
        case text(choice: Int, text: String, tokens: [TokenLogprob])
        case finished(choice: Int, reason: String)
        case failed(ForgeError)
    }

    /// Runs the request's jobs, calling `out` for every event in order; moderates replies as they stream.
    func run(_ r: CompletionRequest, _ prepared: [Prepared], _ handles: [JobHandle], record: inout CompletionRecord,
             out deliver: (Output) async throws -> Void) async throws {
        let started = ContinuousClock.now
        // When the client goes away (`deliver` throws), the job is cancelled and its events drained so that the record
        // still counts the tokens made and ends the open choices as cancelled; then the error goes to the caller.
        var gone: (any Error)?
        var current: JobHandle?
        func out(_ output: Output) async {
            guard gone == nil else { return }
            do { try await deliver(output) } catch { gone = error; current?.cancel() }
        }
        var last: ContinuousClock.Instant?
        record.promptTokens = prepared.reduce(0) { $0 + $1.tokens.count }
        record.finishReasons = Array(repeating: "", count: prepared.count * r.n)
        for (p, handle) in handles.enumerated() {
            current = handle
            var replies = Array(repeating: "", count: r.n)
            var blocked = Set<Int>()
            // Guardrails follow each choice's reply (they may hold text back and redact it); tokens wait with their text.
            let filters = (0..<r.n).map { _ in (moderator as? any RewritingModerator)?.replyFilter() }
            var heldTokens = Array(repeating: [TokenLogprob](), count: r.n)
            func refuse(_ i: Int, _ choice: Int) async {
                // A reply that turns bad ends there, with OpenAI's content_filter.
                blocked.insert(i)
                record.finishReasons[choice] = "content_filter"
                await out(.finished(choice: choice, reason: "content_filter"))
                if blocked.count == r.n { handle.cancel() }
            }
            for await event in handle.events {
                switch event {
                case .text(let i, var text, var tokens):
                    let choice = p * r.n + i
                    guard !blocked.contains(i) else { continue }
                    if let filter = filters[i] {
                        let (shown, refusal) = filter.feed(text)
                        if refusal != nil { await refuse(i, choice); continue }
                        heldTokens[i] += tokens
                        if shown.isEmpty { continue }
                        (text, tokens) = (shown, heldTokens[i])
                        heldTokens[i] = []
                    } else if moderator.check(String(replies[i].suffix(64)) + text) != nil {
                        await refuse(i, choice)
                        continue
                    }
                    replies[i] += text
                    let now = ContinuousClock.now
                    if record.firstTokenSeconds == nil { record.firstTokenSeconds = seconds(now - started) }
                    if choice == 0, let last { record.tokenIntervals.append(seconds(now - last)) }
                    if choice == 0 { last = now }
                    await out(.text(choice: choice, text: text, tokens: tokens))
                case .finished(let i, let reason, let count):
                    record.completionTokens += count
                    guard !blocked.contains(i) else { continue }
                    if reason == .cancelled {
                        // The client went away (nobody to tell), or the choice was filtered.
                        record.finishReasons[p * r.n + i] = "cancelled"
                        continue
                    }
                    if let filter = filters[i] {
                        // What the guardrails held back is checked and shown before the reply ends.
                        let (shown, refusal) = filter.finish()
                        if refusal != nil { await refuse(i, p * r.n + i); continue }
                        if !shown.isEmpty || !heldTokens[i].isEmpty {
                            replies[i] += shown
                            await out(.text(choice: p * r.n + i, text: shown, tokens: heldTokens[i]))
                            heldTokens[i] = []
                        }
                    }
                    let name = reason == .stop ? "stop" : "length"
                    record.finishReasons[p * r.n + i] = name
                    await out(.finished(choice: p * r.n + i, reason: name))
                case .done(_, let cached):
                    record.cachedTokens += cached
                case .failed(let e):
                    await out(.failed(e))
                }
            }
            if let gone {
                // Jobs not reached yet never ran for this client: their choices end as cancelled too.
                for c in record.finishReasons.indices where record.finishReasons[c].isEmpty { record.finishReasons[c] = "cancelled" }
                handles[(p + 1)...].forEach { $0.cancel() }
                throw gone
            }
        }
    }

    func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }

    // MARK: - Response shapes

    func id(_ r: CompletionRequest) -> String {
        (r.kind == .chat ? "chatcmpl-" : "cmpl-") + String((0..<24).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
    }

    func usage(_ record: CompletionRecord) -> [String: Any] {
        ["prompt_tokens": record.promptTokens, "completion_tokens": record.completionTokens,
         "total_tokens": record.promptTokens + record.completionTokens,
         "prompt_tokens_details": ["cached_tokens": record.cachedTokens]]
    }

    func tokenText(_ id: Int32) -> (String, [Int]) {
        let bytes = loaded.tokenizer.bytes(of: [id], skipSpecial: false)
        return (String(decoding: bytes, as: UTF8.self), bytes.map(Int.init))
    }

    /// Chat `logprobs.content` entries.
    func chatLogprobs(_ tokens: [TokenLogprob]) -> [[String: Any]] {
        tokens.map { t in
            let (text, bytes) = tokenText(t.token)
            return ["token": text, "logprob": Double(t.logprob), "bytes": bytes,
                    "top_logprobs": t.top.map { alt -> [String: Any] in
                        let (s, b) = tokenText(alt.token)
                        return ["token": s, "logprob": Double(alt.logprob), "bytes": b]
                    }]
        }
    }

    /// The whole (non-streamed) response.
    public func complete(_ running: Running, record: inout CompletionRecord) async throws(APIError) -> [String: Any] {
        let (r, prepared, handles) = (running.request, running.prepared, running.handles)
        defer { running.cancel() }
        let count = prepared.count * r.n
        var texts = Array(repeating: "", count: count), reasons = Array(repeating: "length", count: count)
        var logprobs = Array(repeating: [TokenLogprob](), count: count)
        var failure: ForgeError?
        do {
            try await run(r, prepared, handles, record: &record) { event in
                switch event {
                case .text(let c, let t, let tokens): texts[c] += t; logprobs[c] += tokens
                case .finished(let c, let reason): reasons[c] = reason
                case .failed(let e): failure = e
                }
            }
        } catch {
            throw APIError(status: 500, "\(error)", type: "server_error")
        }
        if let failure { throw Self.apiError(failure) }
        let choices: [[String: Any]] = (0..<count).map { c in
            var choice: [String: Any] = ["index": c, "finish_reason": reasons[c]]
            switch r.kind {
            case .chat:
                let (message, finish) = replyMessage(texts[c], reason: reasons[c], r)
                (choice["message"], choice["finish_reason"]) = (message, finish)
                choice["logprobs"] = r.topLogprobs == nil ? NSNull() : ["content": chatLogprobs(logprobs[c]), "refusal": NSNull()] as Any
            case .text:
                choice["text"] = texts[c]
                choice["logprobs"] = r.topLogprobs == nil ? NSNull() : textLogprobs(logprobs[c]) as Any
            }
            return choice
        }
        return ["id": id(r), "object": r.kind == .chat ? "chat.completion" : "text_completion", "created": Int(Date().timeIntervalSince1970),
                "model": modelName, "system_fingerprint": "forge", "choices": choices, "usage": usage(record)]
    }

    /// Legacy completions' logprobs: parallel arrays of tokens, their logprobs, top alternatives and text offsets.
    func textLogprobs(_ tokens: [TokenLogprob]) -> [String: Any] {
        var offset = 0, offsets: [Int] = [], texts: [String] = []
        for t in tokens {
            let (s, _) = tokenText(t.token)
            offsets.append(offset)
            texts.append(s)
            offset += s.count
        }
        return ["tokens": texts, "token_logprobs": tokens.map { Double($0.logprob) },
                "top_logprobs": tokens.map { t in Dictionary(t.top.map { (tokenText($0.token).0, Double($0.logprob)) }, uniquingKeysWith: { a, _ in a }) },
                "text_offset": offsets]
    }

    /// The response as server-sent events: `data: {chunk}` lines and `data: [DONE]`, as OpenAI streams them.
    /// `send` writes one event; when it throws (the client went away), the jobs are cancelled.
    public func stream(_ running: Running, record: inout CompletionRecord, send: (String) async throws -> Void) async {
        let (r, prepared, handles) = (running.request, running.prepared, running.handles)
        defer { running.cancel() }
        let id = id(r), created = Int(Date().timeIntervalSince1970)
        let object = r.kind == .chat ? "chat.completion.chunk" : "text_completion"
        func chunk(_ choices: [[String: Any]], usage: Any? = nil) -> String {
            var c: [String: Any] = ["id": id, "object": object, "created": created, "model": modelName, "system_fingerprint": "forge",
                                    "choices": choices]
            if r.includeUsage { c["usage"] = usage ?? NSNull() }
            return "data: " + Self.json(c) + "\n\n"
        }
        do {
            if r.kind == .chat {
                for c in 0..<(prepared.count * r.n) {
                    try await send(chunk([["index": c, "delta": ["role": "assistant", "content": ""], "logprobs": NSNull(),
                                           "finish_reason": NSNull()]]))
                }
            }
            var failure: ForgeError?
            // With tools, each choice's reply is held until it ends, then sent as content or tool calls (ToolReplies).
            var held = Array(repeating: "", count: prepared.count * r.n)
            try await run(r, prepared, handles, record: &record) { event in
                switch event {
                case .text(let c, let t, _) where r.readsToolCalls:
                    held[c] += t
                case .finished(let c, let reason) where r.readsToolCalls:
                    for choice in replyDeltas(c, text: held[c], reason: reason, r) { try await send(chunk([choice])) }
                case .text(let c, let t, let tokens):
                    var choice: [String: Any] = ["index": c, "finish_reason": NSNull()]
                    if r.kind == .chat {
                        choice["delta"] = ["content": t]
                        choice["logprobs"] = r.topLogprobs == nil ? NSNull() : ["content": chatLogprobs(tokens), "refusal": NSNull()] as Any
                    } else {
                        choice["text"] = t
                        choice["logprobs"] = r.topLogprobs == nil ? NSNull() : textLogprobs(tokens) as Any
                    }
                    try await send(chunk([choice]))
                case .finished(let c, let reason):
                    var choice: [String: Any] = ["index": c, "finish_reason": reason, "logprobs": NSNull()]
                    if r.kind == .chat { choice["delta"] = [String: Any]() } else { choice["text"] = "" }
                    try await send(chunk([choice]))
                case .failed(let e):
                    failure = e
                }
            }
            if let failure {
                try await send("data: " + Self.json(Self.apiError(failure).json) + "\n\n")
            } else if r.includeUsage {
                try await send(chunk([], usage: usage(record)))
            }
            try await send("data: [DONE]\n\n")
        } catch {
            // The client went away: `defer` cancels the jobs.
        }
    }

    /// A scheduler failure as an API error.
    static func apiError(_ e: ForgeError) -> APIError {
        if e.description.contains("time limit") { return APIError(status: 408, e.description, type: "server_error", code: "timeout") }
        if e.description.contains("cache is full") {
            return APIError(status: 503, e.description, type: "server_error", code: "overloaded", retryAfter: 2)
        }
        return APIError(status: 400, e.description)
    }

    static func json(_ object: Any) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8),
               as: UTF8.self)
    }
}
