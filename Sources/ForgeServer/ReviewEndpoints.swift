// ReviewEndpoints: the review and arena routes. GET /review is the page (public: it holds no data); the JSON routes
// need a reviewer or admin key: GET /v1/review/next (an unjudged item with its answers as left and right, no model
// names, and the caller's progress), POST /v1/review/judgments (left, right or tie and flags; the server maps sides
// back through the assignment it stored when serving the item, so a client cannot relabel them). Admin only:
// GET /v1/review/results (win rates, Elo, Bradley–Terry, agreement) and POST /v1/review/items (JSONL or a JSON list;
// with ?from=chat, items from chat feedback instead).
import ForgeCore
import ForgeFeedback
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension OpenAIServer {
    /// Adds the review page and its routes.
    func addReviewRoutes(to router: Router<BasicRequestContext>) {
        router.get("/review") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: ReviewPage.html)))
        }
        router.get("/v1/review/next") { request, _ in
            try await self.reviewRoute(request, what: "review items") { store, access, _ throws(APIError) in
                let served = try Self.reviewCall { try store.next(for: access.client) }
                let progress = try Self.reviewCall { try store.progress(for: access.client) }
                let item: Any = served.map { s -> [String: Any] in
                    ["id": s.item.id, "prompt": s.item.prompt.map { ["role": $0.role, "content": $0.content] }, "left": s.leftText, "right": s.rightText]
                } ?? NSNull()
                return ["item": item, "progress": ["judged": progress.judged, "total": progress.total]]
            }
        }
        router.post("/v1/review/judgments") { request, _ in
            try await self.reviewRoute(request, what: "judge review items") { store, access, body throws(APIError) in
                guard let json = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
                    throw APIError.invalid("The body must be a JSON object: {\"item_id\", \"choice\": \"left\"|\"right\"|\"tie\", \"flag_left\", \"flag_right\"}.")
                }
                guard let id = (json["item_id"] as? NSNumber).flatMap({ Int64(exactly: $0.doubleValue) }) else {
                    throw APIError.invalid("'item_id' must be an integer.", param: "item_id")
                }
                guard let choice = (json["choice"] as? String).flatMap(ReviewChoice.init(rawValue:)) else {
                    throw APIError.invalid("'choice' must be \"left\", \"right\" or \"tie\".", param: "choice")
                }
                var flags: [String?] = []
                for key in ["flag_left", "flag_right"] {
                    switch json[key] {
                    case nil, is NSNull: flags.append(nil)
                    case let f as String where FeedbackStore.reportCategories.contains(f): flags.append(f)
                    default: throw APIError.invalid("'\(key)' must be null or one of \(FeedbackStore.reportCategories.joined(separator: ", ")).", param: key)
                    }
                }
                _ = try Self.reviewCall { try store.submit(itemID: id, reviewer: access.client, choice: choice, flagLeft: flags[0], flagRight: flags[1]) }
                let progress = try Self.reviewCall { try store.progress(for: access.client) }
                return ["ok": true, "progress": ["judged": progress.judged, "total": progress.total]]
            }
        }
        router.get("/v1/review/results") { request, _ in
            try await self.reviewRoute(request, adminOnly: true, what: "see review results") { store, _, _ throws(APIError) in
                let rounds = request.uri.queryParameters.get("rounds").flatMap(Int.init).map { min(max($0, 0), 2000) } ?? 200
                return try Self.reviewCall { try store.reviewResults(rounds: rounds).json }
            }
        }
        router.post("/v1/review/items") { request, _ in
            try await self.reviewRoute(request, adminOnly: true, what: "load review items") { store, _, body throws(APIError) in
                let text = String(decoding: body, as: UTF8.self)
                let load: ReviewLoad
                do {
                    if request.uri.queryParameters.get("from") == "chat" {
                        load = try store.addReviewItemsFromChat()
                    } else if text.drop(while: \.isWhitespace).first == "[" {
                        guard let list = try? JSONSerialization.jsonObject(with: body) as? [Any] else { throw ForgeError("body: not a JSON list") }
                        load = try store.addReviewItems(jsonList: list, name: "body")
                    } else {
                        load = try store.addReviewItems(jsonl: text, name: "body")
                    }
                } catch { throw APIError.invalid("\(error)") }
                let total = try Self.reviewCall { try store.reviewItems().count }
                return ["added": load.added, "duplicates": load.duplicates, "total": total]
            }
        }
    }

    /// A review request: the key and its role (reviewer or admin; admin only when `adminOnly`), the store, the body (POST), then `handle`.
    func reviewRoute(_ request: Request, adminOnly: Bool = false, what: String,
                     _ handle: @escaping (FeedbackStore, Access, Data) throws(APIError) -> [String: Any]) async throws -> Response {
        var request = request
        do throws(APIError) {
            let access = try options.keys.authorize(request.headers[.authorization])
            if adminOnly { try access.require(.admin, for: what) } else { try access.require(.reviewer, .admin, for: what) }
            guard let review else {
                throw APIError(status: 404, "This server keeps no review queue (start it with --feedback DB).", code: "not_found")
            }
            try limiter.admit(access.client, limits: access.limits)
            var body = Data()
            if request.method == .post {
                do { body = Data(buffer: try await request.collectBody(upTo: options.maxBodyBytes)) } catch {
                    throw APIError(status: 413, "The request body is larger than this server's limit of \(options.maxBodyBytes) bytes.",
                                   code: "request_too_large")
                }
            }
            return Self.json(try handle(review, access, body))
        } catch {
            return Self.error(error)
        }
    }

    /// Runs a store call, with review errors as HTTP ones: unknown item 404, judged twice or not served 409, bad flag 400.
    static func reviewCall<T>(_ body: () throws -> T) throws(APIError) -> T {
        do { return try body() } catch let e as ReviewError {
            switch e {
            case .unknownItem: throw APIError(status: 404, "\(e)", param: "item_id", code: "item_not_found")
            case .alreadyJudged: throw APIError(status: 409, "\(e)", param: "item_id", code: "already_judged")
            case .notServed, .sideMismatch: throw APIError(status: 409, "\(e)", param: "item_id", code: "not_served")
            case .unknownFlag: throw APIError.invalid("\(e)")
            }
        } catch {
            throw APIError(status: 500, "The review database failed: \(error)", type: "server_error")
        }
    }
}
