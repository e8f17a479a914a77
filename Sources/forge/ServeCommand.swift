// forge serve: the OpenAI-compatible server (chat page at /).
import ArgumentParser
import ForgeSafety
import Forge
import ForgeCore
import ForgeFeedback
import ForgeInference
import ForgeModels
import ForgeRetrieval
import ForgeServer
import ForgeTrain
import Foundation

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a model over the OpenAI API (chat and text completions, streaming) with a chat page.",
        discussion: """
        Requests decode together (continuous batching); prompt prefixes are reused across requests. With API keys \
        (--api-key-file, or FORGE_API_KEYS=key1,key2) every /v1 route needs `Authorization: Bearer KEY`. Binds \
        127.0.0.1 unless --host says otherwise. SIGTERM drains: running requests finish, new ones get 503.

        Examples:
          forge serve --model SmolLM2-135M-Instruct.Q4_1.gguf          # then open http://127.0.0.1:8080/
          forge serve --model runs/speedrun/model --runs runs          # and the runs dashboard at /runs
          curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \\
            -d '{"model": "SmolLM2-135M-Instruct", "messages": [{"role": "user", "content": "Hi"}]}'
        """)

    @Option(help: "A .gguf file or a model directory.") var model: String
    @Option(help: "A LoRA adapter dir (PEFT layout) applied without merging.") var lora: String?
    @Option(help: "The model's name for clients (default: the file or directory name).") var name: String?
    @Option(help: "Address to bind (0.0.0.0 for every interface).") var host = "127.0.0.1"
    @Option(help: "Port (0: any free port).") var port = 8080
    @Option(help: "File of API keys, one per line (also FORGE_API_KEYS, comma-separated).") var apiKeyFile: String?
    @Option(help: "Requests per minute per key (default: unlimited).") var requestsPerMinute: Int?
    @Option(help: "Prompt and generated tokens per minute per key (default: unlimited).") var tokensPerMinute: Int?
    @Option(help: "Largest request body in bytes.") var maxBodyBytes = 1 << 20
    @Option(help: "Most prompt tokens per request.") var maxPromptTokens = 8192
    @Option(help: "Most generated tokens per choice (max_tokens above it is refused).") var maxTokens = 2048
    @Option(help: "Sequences decoding at once.") var maxSequences = 16
    @Option(help: "Requests waiting for a place before 429.") var maxQueue = 64
    @Option(help: "Seconds a request may take from its arrival, time in the queue included (then 408).") var timeout = 300
    @Option(help: "Seconds running requests get to finish after SIGTERM.") var drainSeconds = 30
    @Option(help: "Context window per sequence (default: the model's, at most 8192).") var context: Int?
    @Option(help: "Key/value cache type: f16 or f32.") var cacheType: KVCacheType = .f16
    @Option(help: "Moderation: a rules file (one blocked word per line, or /regex/), or classifier:DIR (forge classifier train's RUN/classifier).") var moderation: String?
    @Flag(help: "Log prompt and reply text (default: only counts and timings).") var logText = false
    @Option(help: "A sentence-transformers model dir (BERT, e.g. all-MiniLM-L6-v2) served at POST /v1/embeddings.") var embedder: String?
    @Option(help: "A memory database (SQLite; needs --embedder): per-user facts recalled into chats, managed at /v1/memories.") var memory: String?
    @Flag(help: "With --memory: save only facts posted to /v1/memories, not first-person statements found in chats.") var noAutoMemory = false
    @Option(help: "A retrieval index (forge rag index): chats are answered from its nearest chunks with [n] citations; the sources come back in the Forge-Sources header.") var rag: String?
    @Option(help: "Chunks retrieved per chat with --rag.") var ragK = 4
    @Option(help: "A feedback database (SQLite, created when missing): the chat page rates, reports and regenerates replies (POST /v1/feedback, /v1/conversations), and reviewers judge answer pairs at /review (forge review load fills the queue). Without it nothing is stored.") var feedback: String?
    @Option(help: "A folder of run directories (e.g. runs) shown by the runs dashboard at /runs (admin keys only).") var runs: String?
    @OptionGroup var guardOptions: GuardOptions
    @OptionGroup var threads: ThreadOptions

    func run() async throws {
        if let runs { _ = try RunCatalog(folder: runs).names() }  // a missing folder is an error now, not on the first page load
        try threads.apply()
        // The feedback database is opened first, so that a damaged file fails before the model loads.
        let feedbackStore = try feedback.map { try FeedbackStore(path: $0) }
        let loaded = try LoadedModel.open(model, lora: lora)
        let ctx = context ?? min(loaded.model.config.contextLength, 8192)
        var schedulerOptions = Scheduler.Options()
        schedulerOptions.maxSequences = maxSequences
        schedulerOptions.maxQueue = maxQueue
        let engine = try InferenceEngine(model: loaded.model, contextLength: ctx, cacheType: cacheType)
        let scheduler = Scheduler(engine: engine, endTokens: loaded.endTokens, options: schedulerOptions) { [loaded] in loaded.bytes(of: $0) }
        var options = ServerOptions()
        options.host = host
        options.port = port
        options.modelName = name ?? Self.defaultName(model)
        do { options.keys = try APIKeys.load(file: apiKeyFile) } catch { throw ForgeError(error.message) }
        options.requestsPerMinute = requestsPerMinute
        options.tokensPerMinute = tokensPerMinute
        options.maxBodyBytes = maxBodyBytes
        options.limits.maxPromptTokens = maxPromptTokens
        options.limits.maxTokens = maxTokens
        options.limits.timeLimit = .seconds(timeout)
        options.logText = logText
        options.drainSeconds = drainSeconds
        options.runsFolder = runs
        let moderator: any Moderator
        if let g = try guardOptions.load() {
            guard moderation == nil else { throw ValidationError("give --guard or --moderation, not both (a policy can hold word and classifier rules)") }
            moderator = GuardModerator(g)
        } else if let m = moderation, m.hasPrefix("classifier:") {
            // The classifier runs once per 24 characters of a streamed reply, not once per token.
            moderator = HeldBackModerator(ClassifierModerator(classifier: try TextClassifier.load(String(m.dropFirst("classifier:".count)))))
        } else {
            do { moderator = try moderation.map { try WordRules(file: $0) } ?? AllowAll() } catch let e as APIError { throw ForgeError(e.message) }
        }
        let service = CompletionService(loaded: loaded, scheduler: scheduler, modelName: options.modelName, limits: options.limits,
                                        moderator: moderator)
        let encoder = try embedder.map { try SentenceEncoder(modelDir: $0) }
        let embeddings = encoder.map { EmbeddingService(encoder: $0, modelName: $0.name) }
        let memoryEndpoints = try memory.map { path -> MemoryEndpoints in
            guard let encoder else { throw ValidationError("--memory needs --embedder (a sentence-transformers dir)") }
            let m = UserMemory(store: try MemoryStore(path: path, dimension: encoder.dimension), encoder: encoder)
            return MemoryEndpoints(memory: ServerMemory(memory: m), autoCapture: !noAutoMemory)
        }
        let grounding = try rag.map { path -> ServerGrounding in
            let store = try VectorStore(path: path)
            return ServerGrounding(retriever: try Retriever(store: store, encoder: try encoder ?? SentenceEncoder(modelDir: store.embedder)), k: ragK)
        }
        let server = OpenAIServer(service: service, options: options, embeddings: embeddings, memory: memoryEndpoints, grounding: grounding,
                                  feedback: feedbackStore.map { FeedbackEndpoints(store: $0) })
        let summary = loaded.model.summary, keyed = options.keys.required, modelName = options.modelName
        try await server.run { port in
            let line = "forge serve: http://\(host):\(port)/ · model \(modelName) · \(summary) · context \(ctx) · "
                + (keyed ? "API keys required" : "no API key") + "\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    /// "SmolLM2-135M-Instruct" for ".../SmolLM2-135M-Instruct.Q4_1.gguf", the last path component of a dir.
    static func defaultName(_ path: String) -> String {
        let last = (path as NSString).lastPathComponent
        guard last.hasSuffix(".gguf") else { return last }
        let stem = String(last.dropLast(5))
        if let dot = stem.lastIndex(of: "."), stem[stem.index(after: dot)...].uppercased().hasPrefix("Q") || stem.hasSuffix(".F16") {
            return String(stem[..<dot])
        }
        return stem
    }
}

/// UserMemory behind the server's ConversationMemory (ForgeServer does not depend on ForgeRetrieval). Writes are serialized.
struct ServerMemory: ConversationMemory, @unchecked Sendable {
    let memory: UserMemory
    let lock = NSLock()
    func context(owner: String, message: String) throws -> String? { try lock.withLock { try memory.context(user: owner, message: message) } }
    func capture(owner: String, message: String) throws -> [String] { try lock.withLock { try memory.capture(user: owner, message: message) } }
    func list(owner: String) throws -> [(id: Int64, text: String, created: Date)] {
        try lock.withLock { try memory.store.list(user: owner).map { ($0.id, $0.text, $0.created) } }
    }
    func remember(owner: String, text: String) throws -> Int64 { try lock.withLock { try memory.remember(user: owner, text) } }
    func forget(owner: String, id: Int64) throws -> Bool { try lock.withLock { try memory.store.forget(user: owner, id: id) } }
}

/// A Retriever behind the server's ChatGrounding. Searches are serialized.
struct ServerGrounding: ChatGrounding, @unchecked Sendable {
    let retriever: Retriever
    let k: Int
    let lock = NSLock()
    func ground(_ question: String) throws -> (message: String, sources: [String]) {
        try lock.withLock {
            let (p, _) = try retriever.prompt(question, k: k)
            return (p.message, p.sources.map(\.label))
        }
    }
}
