// ConversationMemory: what the server needs from a per-user memory (ForgeRetrieval's UserMemory, adapted in the
// CLI), and the /v1/memories routes' logic: list, add and delete one's own facts, and facts recalled into chats.
import ForgeTokenizer
import Foundation

/// Facts kept per owner (an API key's client, and the request's `user` when it gives one).
public protocol ConversationMemory: Sendable {
    /// The system-prompt block of facts relevant to `message`, if any.
    func context(owner: String, message: String) throws -> String?
    /// Saves the facts `message` states; returns them.
    func capture(owner: String, message: String) throws -> [String]
    func list(owner: String) throws -> [(id: Int64, text: String, created: Date)]
    func remember(owner: String, text: String) throws -> Int64
    func forget(owner: String, id: Int64) throws -> Bool
}

/// The memory routes and the chat hook, independent of HTTP.
public struct MemoryEndpoints: Sendable {
    public let memory: any ConversationMemory
    /// Whether first-person facts in chat messages are saved without being asked.
    public var autoCapture = true

    public init(memory: any ConversationMemory, autoCapture: Bool = true) { (self.memory, self.autoCapture) = (memory, autoCapture) }

    /// The owner of a request: the client, and its `user` field when given.
    public static func owner(client: String, user: String?) -> String { user.map { client + "/" + $0 } ?? client }

    /// GET /v1/memories
    public func list(owner: String) throws(APIError) -> [String: Any] {
        let items = try wrap { try memory.list(owner: owner) }
        return ["object": "list", "data": items.map { ["id": $0.id, "object": "memory", "text": $0.text, "created_at": Int($0.created.timeIntervalSince1970)] }]
    }

    /// POST /v1/memories {"text": ...}
    public func add(owner: String, body: [String: Any]) throws(APIError) -> [String: Any] {
        guard let text = body["text"] as? String, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw APIError.invalid("'text' must be a non-empty string.", param: "text")
        }
        let id = try wrap { try memory.remember(owner: owner, text: text) }
        return ["id": id, "object": "memory", "text": text]
    }

    /// DELETE /v1/memories/ID: only the owner's own memories.
    public func delete(owner: String, id: String) throws(APIError) -> [String: Any] {
        guard let n = Int64(id) else { throw APIError.invalid("'\(id)' is not a memory id.") }
        guard try wrap({ try memory.forget(owner: owner, id: n) }) else {
            throw APIError(status: 404, "No memory \(id) of yours.", code: "memory_not_found")
        }
        return ["id": n, "object": "memory", "deleted": true]
    }

    /// Chat messages with the owner's relevant facts added to the system message (and the last user turn's facts saved).
    public func recall(into messages: [ChatMessage], owner: String) throws(APIError) -> [ChatMessage] {
        guard let last = messages.last(where: { $0.role == "user" }) else { return messages }
        let context = try wrap { try memory.context(owner: owner, message: last.content) }
        if autoCapture { _ = try wrap { try memory.capture(owner: owner, message: last.content) } }
        guard let context else { return messages }
        var out = messages
        if let first = out.first, first.role == "system" || first.role == "developer" {
            out[0].content = first.content + "\n\n" + context
        } else {
            out.insert(ChatMessage(role: "system", content: context), at: 0)
        }
        return out
    }

    func wrap<T>(_ body: () throws -> T) throws(APIError) -> T {
        do { return try body() } catch { throw APIError(status: 500, "The memory store failed: \(error)", type: "server_error") }
    }
}

/// Retrieval for chats (`forge serve --rag`): the last user message becomes a grounded one, its sources listed.
public protocol ChatGrounding: Sendable {
    /// The grounded message for `question` and the labels of its numbered sources (1-based order).
    func ground(_ question: String) throws -> (message: String, sources: [String])
}
