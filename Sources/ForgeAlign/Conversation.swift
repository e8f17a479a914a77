// Conversation: one training dialogue (system, user and assistant messages) and the checks every reader applies.
import ForgeCore
import ForgeTokenizer

/// A dialogue to fine-tune on, with where it came from (for error messages).
public struct Conversation: Sendable, Equatable {
    public var messages: [ChatMessage]
    /// "file:line" or "file#record".
    public var origin: String

    public init(messages: [ChatMessage], origin: String) { (self.messages, self.origin) = (messages, origin) }

    /// Roles a conversation may hold.
    public static let roles: Set<String> = ["system", "user", "assistant"]

    /// Throws when a role is unknown, a message is empty, a system message is not first, or no assistant replies.
    public func validate() throws {
        guard !messages.isEmpty else { throw ForgeError("\(origin): empty conversation") }
        for (i, m) in messages.enumerated() {
            guard Conversation.roles.contains(m.role) else {
                throw ForgeError("\(origin): message \(i) has role '\(m.role)' (expected system, user or assistant)")
            }
            guard !m.content.isEmpty else { throw ForgeError("\(origin): message \(i) (\(m.role)) is empty") }
            if m.role == "system", i > 0 { throw ForgeError("\(origin): message \(i) is a system message after the first") }
        }
        guard messages.contains(where: { $0.role == "assistant" }) else {
            throw ForgeError("\(origin): no assistant message to learn from")
        }
    }
}
