// OpenAIServer: `forge serve`, the OpenAI-compatible HTTP server (Hummingbird 2). Routes: POST /v1/chat/completions,
// POST /v1/completions (JSON or server-sent events), POST /v1/embeddings (with --embedder), /v1/memories (with --memory),
// POST /v1/feedback and /v1/conversations (with --feedback), GET /v1/models, GET /openapi.json, GET /health, GET /metrics,
// the chat page at GET / and the review page at GET /review with its /v1/review routes (ReviewEndpoints, with --feedback).
// Every response is logged (JSON lines with a request id, timings and token counts; prompt text
// only when asked) and counted. SIGTERM drains: no new requests, running ones finish within the deadline.
import ForgeCore
import ForgeFeedback
import ForgeInference
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// How the server runs.
public struct ServerOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// The model's name for clients.
    public var modelName = "forge"
    public var keys = APIKeys([])
    public var requestsPerMinute: Int?
    public var tokensPerMinute: Int?
    /// Largest request body.
    public var maxBodyBytes = 1 << 20
    public var limits = RequestLimits()
    /// Log prompt and reply text (off: only counts and timings).
    public var logText = false
    /// Seconds running requests get to finish after SIGTERM.
    public var drainSeconds = 30
    /// A folder of run directories shown by the runs dashboard (GET /runs, /v1/runs); nil: no dashboard.
    public var runsFolder: String?
    public init() {}
}

public final class OpenAIServer: Sendable {
    public let service: CompletionService
    /// POST /v1/embeddings, when the server was given an embedding model.
    public let embeddings: EmbeddingService?
    /// Per-user memory: /v1/memories and facts recalled into chats, when the server was given a memory database.
    public let memory: MemoryEndpoints?
    /// Retrieval-augmented chats: each chat's last user message answered from retrieved chunks.
    public let grounding: (any ChatGrounding)?
    /// Ratings and reports of replies (POST /v1/feedback, /v1/conversations), when the server was given a feedback database.
    public let feedback: FeedbackEndpoints?
    /// The review queue (/review and /v1/review/...): the feedback database's other half.
    public var review: FeedbackStore? { feedback?.store }
    public let options: ServerOptions
    public let metrics = ServerMetrics()
    let limiter: RateLimiter
    let logger: Logger
    let ready = Mutex<Bool>(false)
    let draining = Mutex<Bool>(false)

    public init(service: CompletionService, options: ServerOptions, embeddings: EmbeddingService? = nil, memory: MemoryEndpoints? = nil,
                grounding: (any ChatGrounding)? = nil, feedback: FeedbackEndpoints? = nil) {
        self.service = service
        self.feedback = feedback
        self.grounding = grounding
        self.embeddings = embeddings
        self.memory = memory
        self.options = options
        limiter = RateLimiter(requestsPerMinute: options.requestsPerMinute, tokensPerMinute: options.tokensPerMinute)
        logger = Logger(label: "forge.serve") { JSONLogHandler(label: $0) }
    }

    // MARK: - Routes

    func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: AccessLog(server: self))
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: ChatPage.html(model: self.service.modelName, feedback: self.feedback != nil))))
        }
        router.get("/health") { _, _ in
            let ok = self.ready.withLock { $0 } && !self.draining.withLock { $0 }
            return Self.json(ok ? ["status": "ok", "model": self.service.modelName] : ["status": "unavailable"], status: ok ? .ok : .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: self.metrics.render(self.service.scheduler.snapshot))))
        }
        router.get("/openapi.json") { _, _ in
            var doc = OpenAPIDocument.json(model: self.service.modelName, limits: self.service.limits)
            if let e = self.embeddings { OpenAPIDocument.addEmbeddings(to: &doc, dimension: e.dimension, maxInputs: e.maxInputs) }
            if self.feedback != nil { OpenAPIDocument.addFeedback(to: &doc) }
            if self.options.runsFolder != nil { OpenAPIDocument.addRuns(to: &doc) }
            return Self.json(doc)
        }
        router.get("/v1/models") { request, _ in
            do throws(APIError) {
                _ = try self.options.keys.authorize(request.headers[.authorization])
                return Self.json(["object": "list", "data": [["id": self.service.modelName, "object": "model",
                                                              "created": self.service.created, "owned_by": "forge"]]])
            } catch { return Self.error(error) }
        }
        router.post("/v1/chat/completions") { request, context in try await self.completion(request, context, kind: .chat) }
        router.post("/v1/completions") { request, context in try await self.completion(request, context, kind: .text) }
        router.post("/v1/embeddings") { request, _ in try await self.embed(request) }
        router.get("/v1/memories") { request, _ in try await self.memories(request) { m, owner, _ throws(APIError) in try m.list(owner: owner) } }
        router.post("/v1/memories") { request, _ in try await self.memories(request) { m, owner, body throws(APIError) in try m.add(owner: owner, body: body) } }
        router.delete("/v1/memories/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await self.memories(request) { m, owner, _ throws(APIError) in try m.delete(owner: owner, id: id) }
        }
        addFeedbackRoutes(to: router)
        addReviewRoutes(to: router)
        addRunsRoutes(to: router)
        return router
    }

    /// An embeddings request: key, rate, body, then the encoder off the event loop.
    func embed(_ request: Request) async throws -> Response {
        var request = request
        do throws(APIError) {
            guard let embeddings else {
                throw APIError(status: 404, "This server has no embedding model (start it with --embedder DIR).", code: "model_not_found")
            }
            let access = try options.keys.authorize(request.headers[.authorization])
            try access.require(.user, .admin, for: "create embeddings")
            try limiter.admit(access.client, limits: access.limits)
            let body: ByteBuffer
            do { body = try await request.collectBody(upTo: options.maxBodyBytes) } catch {
                throw APIError(status: 413, "The request body is larger than this server's limit of \(options.maxBodyBytes) bytes.",
                               code: "request_too_large")
            }
            let data = Data(buffer: body)
            let result = await withCheckedContinuation { (done: CheckedContinuation<Result<[String: Any], APIError>, Never>) in
                DispatchQueue.global().async {
                    do throws(APIError) { done.resume(returning: .success(try embeddings.respond(data))) }
                    catch { done.resume(returning: .failure(error)) }
                }
            }
            return Self.json(try result.get())
        } catch {
            return Self.error(error)
        }
    }

    /// `Forge-Sources`: the numbered sources a grounded chat was given, as JSON (["path § section", ...]; [n] is the n-th).
    static let sourcesHeader = HTTPField.Name("Forge-Sources")!
    static func sourcesValue(_ sources: [String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: sources, options: [.withoutEscapingSlashes])) ?? Data("[]".utf8)
        // Header values are ASCII: everything else is escaped as JSON \u sequences.
        return String(decoding: data, as: UTF8.self).unicodeScalars.map { $0.isASCII && $0.value >= 32 ? String($0) : String(format: "\\u%04x", $0.value) }.joined()
    }

    /// A memory request: key, rate, then `body` with the owner (the client, and `user` from the query or the JSON body).
    func memories(_ request: Request, _ body: @escaping (MemoryEndpoints, String, [String: Any]) throws(APIError) -> [String: Any]) async throws -> Response {
        await ownedRoute(request, memory, missing: APIError(status: 404, "This server keeps no memory (start it with --memory DB --embedder DIR).",
                                                            code: "not_found"), what: "use memories", body)
    }

    /// A request on the caller's own data (memories, feedback): the service or `missing`, key, role (user or admin),
    /// rate, the JSON body of a POST, then `body` with the owner (the client, and `user` from the query or the body).
    func ownedRoute<Service>(_ request: Request, _ service: Service?, missing: APIError, what: String,
                             _ body: (Service, String, [String: Any]) throws(APIError) -> [String: Any]) async -> Response {
        var request = request
        do throws(APIError) {
            guard let service else { throw missing }
            let access = try options.keys.authorize(request.headers[.authorization])
            try access.require(.user, .admin, for: what)
            try limiter.admit(access.client, limits: access.limits)
            var json: [String: Any] = [:]
            if request.method == .post {
                let data: ByteBuffer
                do { data = try await request.collectBody(upTo: options.maxBodyBytes) } catch {
                    throw APIError(status: 413, "The request body is larger than this server's limit.", code: "request_too_large")
                }
                guard let o = (try? JSONSerialization.jsonObject(with: Data(buffer: data))) as? [String: Any] else {
                    throw APIError.invalid("The body must be a JSON object.")
                }
                json = o
            }
            let user = request.uri.queryParameters.get("user") ?? json["user"] as? String
            // One small SQLite transaction: done on the event loop.
            return Self.json(try body(service, MemoryEndpoints.owner(client: access.client, user: user), json))
        } catch {
            return Self.error(error)
        }
    }

    /// A completion request: key, rate, body, parse, queue; then the whole answer or a stream of events.
    func completion(_ request: Request, _ context: BasicRequestContext, kind: CompletionRequest.Kind) async throws -> Response {
        var request = request
        let running: CompletionService.Running, client: String
        var sources: [String] = []
        do throws(APIError) {
            guard !draining.withLock({ $0 }) else {
                throw APIError(status: 503, "The server is shutting down.", type: "server_error", code: "unavailable", retryAfter: 5)
            }
            let access = try options.keys.authorize(request.headers[.authorization])
            try access.require(.user, .admin, for: "create completions")
            client = access.client
            try limiter.admit(client, limits: access.limits)
            let body: ByteBuffer
            do { body = try await request.collectBody(upTo: options.maxBodyBytes) } catch {
                throw APIError(status: 413, "The request body is larger than this server's limit of \(options.maxBodyBytes) bytes.",
                               code: "request_too_large")
            }
            var parsed = try CompletionRequest.parse(Data(buffer: body), kind: kind)
            if let memory, kind == .chat {
                parsed.messages = try memory.recall(into: parsed.messages, owner: MemoryEndpoints.owner(client: client, user: parsed.user))
            }
            if let grounding, kind == .chat, let last = parsed.messages.lastIndex(where: { $0.role == "user" }) {
                do {
                    let g = try grounding.ground(parsed.messages[last].content)
                    parsed.messages[last].content = g.message
                    sources = g.sources
                } catch { throw APIError(status: 500, "Retrieval failed: \(error)", type: "server_error") }
            }
            if options.logText {
                logger.info("request text", metadata: ["request_id": .string(context.id),
                                                       "text": .string(String(buffer: body))])
            }
            running = try service.begin(parsed)
        } catch {
            return Self.error(error)
        }
        let started = ContinuousClock.now
        // A client that closes its connection cancels its jobs at once (not at the next write). Watching the connection
        // takes it over, so these responses say `Connection: close`.
        let body = request.body
        if !running.stream {
            var response = try await body.consumeWithInboundCloseHandler({ _ in
                var record = CompletionRecord()
                do throws(APIError) {
                    let answer = try await self.service.complete(running, record: &record)
                    self.finished(record, client: client, context: context, started: started, text: answer)
                    return Self.json(answer)
                } catch {
                    self.finished(record, client: client, context: context, started: started, text: nil)
                    return Self.error(error)
                }
            }, onInboundClosed: { running.cancel() })
            response.headers[.connection] = "close"
            if !sources.isEmpty { response.headers[Self.sourcesHeader] = Self.sourcesValue(sources) }
            return response
        }
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache", .connection: "close"]
        if !sources.isEmpty { headers[Self.sourcesHeader] = Self.sourcesValue(sources) }
        return Response(status: .ok, headers: headers,
                        body: ResponseBody { writer in
            try await body.consumeWithInboundCloseHandler({ _ in
                var record = CompletionRecord()
                await self.service.stream(running, record: &record) { event in
                    try await writer.write(ByteBuffer(string: event))
                }
                self.finished(record, client: client, context: context, started: started, text: nil)
            }, onInboundClosed: { running.cancel() })
            try await writer.finish(nil)
        })
    }

    /// Counts, charges and logs a finished completion.
    func finished(_ record: CompletionRecord, client: String, context: BasicRequestContext, started: ContinuousClock.Instant,
                  text: [String: Any]?) {
        metrics.completion(record)
        limiter.charge(client, tokens: record.promptTokens + record.completionTokens)
        var meta: Logger.Metadata = ["request_id": .string(context.id), "client": .string(client),
                                     "prompt_tokens": .stringConvertible(record.promptTokens),
                                     "cached_tokens": .stringConvertible(record.cachedTokens),
                                     "completion_tokens": .stringConvertible(record.completionTokens),
                                     "finish_reasons": .string(record.finishReasons.joined(separator: ",")),
                                     "seconds": .string(String(format: "%.3f", Self.seconds(ContinuousClock.now - started)))]
        if let t = record.firstTokenSeconds { meta["first_token_seconds"] = .string(String(format: "%.3f", t)) }
        if options.logText, let text { meta["response"] = .string(CompletionService.json(text)) }
        logger.info("completion", metadata: meta)
    }

    // MARK: - Running

    /// Serves until SIGTERM/SIGINT, then drains. `onStarted` gets the bound port (useful with port 0).
    public func run(onStarted: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "forge"),
            onServerRunning: { channel in
                self.ready.withLock { $0 = true }
                await onStarted(channel.localAddress?.port ?? self.options.port)
            },
            logger: Logger(label: "forge.http") { var h = JSONLogHandler(label: $0); h.logLevel = .warning; return h })
        let drain = Drain(server: self)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app, successTerminationBehavior: .gracefullyShutdownGroup),
                       .init(service: drain, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Marks the server draining (new requests get 503) and waits for the running ones, up to the deadline.
    func drain() async {
        draining.withLock { $0 = true }
        logger.info("draining", metadata: ["deadline_seconds": .stringConvertible(options.drainSeconds)])
        let deadline = ContinuousClock.now + .seconds(options.drainSeconds)
        while ContinuousClock.now < deadline {
            let s = service.scheduler.snapshot
            if s.queued == 0 && s.activeSequences == 0 { break }
            try? await Task.sleep(for: .milliseconds(50))
        }
        service.scheduler.shutdown()
    }

    // MARK: - Responses

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: CompletionService.json(object))))
    }

    static func error(_ e: APIError) -> Response {
        var headers: HTTPFields = [:]
        if let after = e.retryAfter { headers[.retryAfter] = String(after) }
        if e.status == 401 { headers[.wwwAuthenticate] = "Bearer" }
        return json(e.json, status: HTTPResponse.Status(code: e.status), headers: headers)
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
}

/// Logs and counts every HTTP request (route, status, time), with the request id.
struct AccessLog: RouterMiddleware {
    typealias Context = BasicRequestContext
    let server: OpenAIServer
    /// The methods each route answers (a known route with another method is a 405).
    static let methods = ["/": "GET", "/health": "GET", "/metrics": "GET", "/openapi.json": "GET", "/v1/models": "GET",
                          "/v1/chat/completions": "POST", "/v1/completions": "POST", "/v1/embeddings": "POST",
                          "/v1/feedback": "POST", "/v1/conversations": "GET", "/review": "GET", "/v1/review/next": "GET",
                          "/v1/review/judgments": "POST", "/v1/review/results": "GET", "/v1/review/items": "POST",
                          "/runs": "GET", "/v1/runs": "GET", "/v1/runs/compare": "GET"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let route = context.endpointPath ?? request.uri.path
        do {
            let response = try await next(request, context)
            let seconds = OpenAIServer.seconds(ContinuousClock.now - started)
            server.metrics.request(route: route, status: Int(response.status.code), seconds: seconds)
            if route != "/metrics" && route != "/health" {
                server.logger.info("http", metadata: ["request_id": .string(context.id), "method": .string(request.method.rawValue),
                                                      "route": .string(route), "status": .stringConvertible(response.status.code),
                                                      "seconds": .string(String(format: "%.3f", seconds))])
            }
            return response
        } catch {
            var status = (error as? any HTTPResponseError)?.status.code ?? 500
            let allowed = status == 404 ? Self.methods[request.uri.path] : nil
            if allowed != nil { status = 405 }
            server.metrics.request(route: route, status: status, seconds: OpenAIServer.seconds(ContinuousClock.now - started))
            let message = allowed.map { "\(request.method.rawValue) is not allowed on \(request.uri.path); use \($0)." }
                ?? (status == 404 ? "Not found: \(request.method.rawValue) \(request.uri.path)" : "\(error)")
            var response = OpenAIServer.error(APIError(status: status, message, type: status >= 500 ? "server_error" : "invalid_request_error"))
            if let allowed { response.headers[.allow] = allowed }
            server.logger.log(level: status >= 500 ? .error : .info, "http",
                              metadata: ["request_id": .string(context.id), "method": .string(request.method.rawValue),
                                         "route": .string(route), "status": .stringConvertible(status),
                                         "error": .string(status >= 500 ? "\(error)" : message)])
            return response
        }
    }
}

/// A service that waits for graceful shutdown, then drains the server before the group stops.
struct Drain: Service {
    let server: OpenAIServer
    func run() async throws {
        try? await gracefulShutdown()
        await server.drain()
    }
}
