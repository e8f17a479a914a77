// ChatSession: a conversation rendered with the model's chat template. Each turn reuses the cached prompt of the
// turns before it; when the conversation outgrows the context window, the oldest turns are dropped (the system
// message stays).
import ForgeCore
import ForgeInference
import ForgeTokenizer

/// One conversation with a model.
public final class ChatSession {
    public let model: LanguageModel
    /// The system message (changing it starts the conversation over).
    public var system: String? { didSet { history.removeAll() } }
    /// User and assistant messages so far.
    public private(set) var history: [ChatMessage] = []
    /// Turns dropped from the start to fit the context in the last `send`.
    public private(set) var droppedTurns = 0

    public init(model: LanguageModel, system: String? = nil) {
        self.model = model
        self.system = system
    }

    /// Forgets the conversation (the system message stays).
    public func reset() { history.removeAll() }

    /// Sends a user message and returns the reply; `onText` receives it as it is produced and returns false to stop.
    @discardableResult
    public func send(_ message: String, settings: GenerationSettings = GenerationSettings(),
                     onText: (String) -> Bool = { _ in true }) throws -> String {
        let loaded = model.loaded, capacity = model.contextLength
        history.append(ChatMessage(role: "user", content: message))
        var prompt: [Int32] = []
        droppedTurns = 0
        while true {
            let messages = (system.map { [ChatMessage(role: "system", content: $0)] } ?? []) + history
            prompt = loaded.encode(try loaded.chatPrompt(messages), special: true, addBOS: true)
            if prompt.count + min(settings.maxTokens, capacity / 2) <= capacity || history.count <= 1 { break }
            history.removeFirst(min(2, history.count - 1))
            droppedTurns += 1
        }
        guard prompt.count < capacity else {
            history.removeLast()
            throw ForgeError("this message alone needs \(prompt.count) tokens; the context holds \(capacity)")
        }
        var s = settings
        s.maxTokens = min(s.maxTokens, capacity - prompt.count)
        s.stop += loaded.chatStops
        let result = try model.generate(tokens: prompt, settings: s, onText: onText)
        let reply = result.text.trimmingCharacters(in: .whitespaces)
        history.append(ChatMessage(role: "assistant", content: reply))
        return reply
    }

    /// Rewrites the last reply as it was shown (e.g. redacted by guardrails); nil forgets the last exchange, as for a
    /// reply that was stopped, so that the model never sees it again.
    public func amendLastReply(_ shown: String?) {
        guard history.count >= 2, history[history.count - 1].role == "assistant" else { return }
        if let shown { history[history.count - 1].content = shown.trimmingCharacters(in: .whitespaces) }
        else { history.removeLast(2) }
    }
}
