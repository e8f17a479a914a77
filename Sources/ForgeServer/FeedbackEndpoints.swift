// FeedbackEndpoints: the logic of POST /v1/feedback and /v1/conversations, independent of HTTP. A rating (up, down
// or none), an optional comment and report category, saved with the conversation, the model and the sampling
// settings; conversations listed, read and deleted by their owner only.
import ForgeFeedback
import ForgeTokenizer
import Foundation
import Hummingbird
import NIOCore

/// Chat feedback over the feedback store.
public struct FeedbackEndpoints: Sendable {
    public let store: FeedbackStore

    public init(store: FeedbackStore) { self.store = store }

    /// POST /v1/feedback {"conversation_id", "messages", "reply", "rating", "comment"?, "report"?, "model"?, "settings"?}.
    public func submit(owner: String, body: [String: Any], defaultModel: String) throws(APIError) -> [String: Any] {
        /// A string field: absent or null gives nil, another type is a 400.
        func string(_ key: String) throws(APIError) -> String? {
            guard let v = body[key], !(v is NSNull) else { return nil }
            guard let s = v as? String else { throw APIError.invalid("'\(key)' must be a string.", param: key) }
            return s
        }
        guard let id = try string("conversation_id"), Self.validID(id) else {
            throw APIError.invalid("'conversation_id' must be 1 to 128 ASCII letters, digits, '-' or '_'.", param: "conversation_id")
        }
        guard let list = body["messages"] as? [Any], !list.isEmpty else {
            throw APIError.invalid("'messages' must be the non-empty list of messages the reply answered.", param: "messages")
        }
        var prompt: [ChatMessage] = []
        for (i, item) in list.enumerated() {
            guard let m = item as? [String: Any], let role = m["role"] as? String, let content = m["content"] as? String else {
                throw APIError.invalid("messages[\(i)] needs string 'role' and 'content'.", param: "messages")
            }
            prompt.append(ChatMessage(role: role, content: content))
        }
        guard let reply = try string("reply"), !reply.isEmpty else {
            throw APIError.invalid("'reply' must be the rated reply's text.", param: "reply")
        }
        let ratingName = try string("rating") ?? "none"
        guard let rating = Self.ratings[ratingName] else { throw APIError.invalid("'rating' must be up, down or none.", param: "rating") }
        let report = try string("report")
        if let report, !FeedbackStore.reportCategories.contains(report) {
            throw APIError.invalid("'report' must be one of \(FeedbackStore.reportCategories.joined(separator: ", ")).", param: "report")
        }
        let comment = try string("comment").flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
        guard (comment?.count ?? 0) <= Self.maxComment else {
            throw APIError.invalid("'comment' is longer than \(Self.maxComment) characters.", param: "comment")
        }
        var settings: [String: Double] = [:]
        if let s = body["settings"], !(s is NSNull) {
            guard let object = s as? [String: Any] else { throw APIError.invalid("'settings' must be an object of numbers.", param: "settings") }
            for (k, v) in object {
                guard !Fields.isBool(v), let n = v as? Double, n.isFinite else { throw APIError.invalid("settings.\(k) must be a number.", param: "settings") }
                settings[k] = n
            }
        }
        let model = try string("model") ?? defaultModel
        _ = try string("user")
        let entry = FeedbackEntry(conversationID: id, owner: owner, prompt: prompt, reply: reply, model: model, settings: settings,
                                  rating: rating, comment: comment, report: report)
        do {
            let n = try store.record(entry)
            return ["id": n, "object": "feedback", "conversation_id": id, "rating": ratingName, "report": report ?? NSNull()]
        } catch FeedbackStoreError.notOwner {
            throw APIError(status: 404, "No conversation \(id) of yours.", code: "conversation_not_found")
        } catch FeedbackStoreError.deleted {
            throw APIError(status: 409, "Conversation \(id) was deleted; rate in a new conversation.", param: "conversation_id",
                           code: "conversation_deleted")
        } catch {
            throw APIError(status: 500, "The feedback store failed: \(error)", type: "server_error")
        }
    }

    static let ratings: [String: Rating] = ["up": .up, "down": .down, "none": .none]
    static let maxComment = 4000
    /// The pattern conversation ids follow (also in /openapi.json).
    static let idPattern = "^[A-Za-z0-9_-]{1,128}$"

    static func validID(_ id: String) -> Bool {
        (1...128).contains(id.utf8.count) && id.utf8.allSatisfy { $0 == 45 || $0 == 95 || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) }
    }

    /// GET /v1/conversations: the owner's conversations, newest first.
    public func list(owner: String) throws(APIError) -> [String: Any] {
        let items = try wrap { try store.conversations(owner: owner) }
        return ["object": "list", "data": items.map(Self.summary)]
    }

    /// GET /v1/conversations/ID: one of the owner's conversations with its feedback.
    public func get(owner: String, id: String) throws(APIError) -> [String: Any] {
        guard Self.validID(id) else { throw APIError.invalid("'\(id)' is not a conversation id.") }
        guard let (c, entries) = try wrap({ try store.conversation(id: id, owner: owner) }) else {
            throw APIError(status: 404, "No conversation \(id) of yours.", code: "conversation_not_found")
        }
        var out = Self.summary(c)
        out["messages"] = c.messages.map { ["role": $0.role, "content": $0.content] }
        out["feedback"] = entries.map { e -> [String: Any] in
            ["id": e.id, "reply": e.reply, "rating": ["down", "none", "up"][e.rating.rawValue + 1], "comment": e.comment ?? NSNull(),
             "report": e.report ?? NSNull(), "model": e.model, "settings": e.settings, "created_at": Int(e.created.timeIntervalSince1970)]
        }
        return out
    }

    /// DELETE /v1/conversations/ID: the conversation and its feedback.
    public func delete(owner: String, id: String) throws(APIError) -> [String: Any] {
        guard Self.validID(id) else { throw APIError.invalid("'\(id)' is not a conversation id.") }
        guard try wrap({ try store.deleteConversation(id: id, owner: owner) }) else {
            throw APIError(status: 404, "No conversation \(id) of yours.", code: "conversation_not_found")
        }
        return ["id": id, "object": "conversation", "deleted": true]
    }

    static func summary(_ c: ConversationRecord) -> [String: Any] {
        ["id": c.id, "object": "conversation", "model": c.model, "feedback_count": c.feedbackCount,
         "title": String((c.messages.first { $0.role == "user" }?.content ?? "").prefix(80)),
         "created_at": Int(c.created.timeIntervalSince1970), "updated_at": Int(c.updated.timeIntervalSince1970)]
    }

    func wrap<T>(_ body: () throws -> T) throws(APIError) -> T {
        do { return try body() } catch { throw APIError(status: 500, "The feedback store failed: \(error)", type: "server_error") }
    }
}

extension OpenAIServer {
    /// POST /v1/feedback and /v1/conversations (GET list, GET one, DELETE one), for users and admins.
    func addFeedbackRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v1/feedback") { request, _ in
            try await self.feedbackRoute(request) { f, owner, body throws(APIError) in
                try f.submit(owner: owner, body: body, defaultModel: self.service.modelName)
            }
        }
        router.get("/v1/conversations") { request, _ in try await self.feedbackRoute(request) { f, owner, _ throws(APIError) in try f.list(owner: owner) } }
        router.get("/v1/conversations/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await self.feedbackRoute(request) { f, owner, _ throws(APIError) in try f.get(owner: owner, id: id) }
        }
        router.delete("/v1/conversations/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await self.feedbackRoute(request) { f, owner, _ throws(APIError) in try f.delete(owner: owner, id: id) }
        }
    }

    /// A feedback request: key, role, rate, then `body` with the owner (the client, and `user` from the query or JSON body).
    func feedbackRoute(_ request: Request, _ body: @escaping (FeedbackEndpoints, String, [String: Any]) throws(APIError) -> [String: Any]) async throws -> Response {
        await ownedRoute(request, feedback, missing: APIError(status: 404, "This server stores no feedback (start it with --feedback DB).",
                                                              code: "feedback_off"), what: "send feedback or read conversations", body)
    }
}
