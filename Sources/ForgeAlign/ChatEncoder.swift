// ChatEncoder: a conversation as training tokens: rendered with the model's chat template, tokenized, and each
// token marked trainable when it belongs to an assistant reply (its text and the end-of-turn token that closes
// it; not the template's scaffolding, nor what follows the end token).
//
// The template is rendered once per assistant message twice: the conversation before it with the generation
// prompt (P) and through it (F). P must be a prefix of F, and each F a prefix of the whole rendering; the text
// between P and F is the reply. Prompt and reply pieces are tokenized separately and concatenated, which is how
// TRL tokenizes prompt and completion.
import ForgeCore
import ForgeTokenizer

/// One training example: tokens and which of them the loss counts.
public struct ChatExample: Sendable, Equatable {
    public var tokens: [Int32]
    /// trainable[i]: token i is predicted by the loss (an assistant token).
    public var trainable: [Bool]
    public var origin: String
    public init(tokens: [Int32], trainable: [Bool], origin: String) { (self.tokens, self.trainable, self.origin) = (tokens, trainable, origin) }
    public var count: Int { tokens.count }
}

/// Renders and tokenizes conversations for a model.
public struct ChatEncoder: Sendable {
    public let template: ChatTemplate
    public let tokenizer: TextTokenizer
    let ends: Set<Int32>
    let bosText: String, eosText: String

    public init(template: ChatTemplate, tokenizer: TextTokenizer) {
        self.template = template
        self.tokenizer = tokenizer
        ends = EndTokens.of(tokenizer)
        let text = { (id: Int32?) in id.map { String(decoding: tokenizer.bytes(of: [$0], skipSpecial: false), as: UTF8.self) } ?? "" }
        bosText = text(tokenizer.bosId)
        eosText = text(tokenizer.eosId)
    }

    /// Forge's format, for models whose tokenizer Forge trained (special tokens <|system|>, <|user|>, <|assistant|>, <|end|>).
    public static let forgeTemplate = """
        {% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' + '\\n' }}\
        {% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}
        """

    /// ChatML, for models without a template of their own (their tokenizer should hold <|im_start|> and <|im_end|>).
    public static let chatML = """
        {% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}\
        {% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
        """

    func render(_ messages: [ChatMessage], generationPrompt: Bool, origin: String) throws -> String {
        do { return try template.render(messages, addGenerationPrompt: generationPrompt, bosToken: bosText, eosToken: eosText) }
        catch let e as ChatTemplateError { throw ForgeError("\(origin): chat template: \(e.description)") }
    }

    /// The example for `conversation` (messages after the last assistant reply are dropped).
    public func encode(_ conversation: Conversation) throws -> ChatExample {
        let messages = conversation.messages, origin = conversation.origin
        guard let last = messages.lastIndex(where: { $0.role == "assistant" }) else {
            throw ForgeError("\(origin): no assistant message to learn from")
        }
        let full = try render(Array(messages[...last]), generationPrompt: false, origin: origin)
        var pieces: [(text: Substring, reply: Bool)] = []
        var done = full.startIndex
        for i in 0...last where messages[i].role == "assistant" {
            let before = try render(Array(messages[..<i]), generationPrompt: true, origin: origin)
            let through = try render(Array(messages[...i]), generationPrompt: false, origin: origin)
            guard full.hasPrefix(through), through.hasPrefix(before), before.count >= full[..<done].count else {
                throw ForgeError("\(origin): the chat template does not render this conversation turn by turn "
                                 + "(a reply's prompt is not a prefix of the whole), so replies cannot be told apart")
            }
            let p = full.index(full.startIndex, offsetBy: before.count), f = full.index(full.startIndex, offsetBy: through.count)
            if done < p { pieces.append((full[done..<p], false)) }
            pieces.append((full[p..<f], true))
            done = f
        }
        var tokens: [Int32] = [], trainable: [Bool] = []
        if tokenizer.addsBOS, let bos = tokenizer.bosId, !full.hasPrefix(bosText) || bosText.isEmpty {
            tokens.append(bos); trainable.append(false)
        }
        for (text, reply) in pieces {
            let ids = tokenizer.encode(String(text), allowSpecial: true, addSpecialTokens: false)
            guard reply else { tokens += ids; trainable += Array(repeating: false, count: ids.count); continue }
            // The reply is learned through its first end token; the template's text after it is not.
            let end = ids.firstIndex(where: ends.contains).map { $0 + 1 } ?? ids.count
            tokens += ids
            trainable += ids.indices.map { $0 < end }
        }
        return ChatExample(tokens: tokens, trainable: trainable, origin: origin)
    }
}
