// LoadedModel: everything needed to talk to a model: weights, tokenizer, chat template, end tokens.
import ForgeCore
import ForgeModels
import ForgeTokenizer
import Foundation

public struct LoadedModel: Sendable {
    public let model: InferenceModel
    public let tokenizer: TextTokenizer
    /// The model's own chat template (GGUF `tokenizer.chat_template`, tokenizer_config.json), if any.
    public let chatTemplate: ChatTemplate?
    /// Tokens that end a reply: end-of-sequence and the end-of-turn markers the vocabulary has.
    public let endTokens: Set<Int32>
    public let bosText: String
    public let eosText: String

    /// Opens a GGUF file or a model directory; `lora` (a PEFT adapter dir) is applied without merging.
    public static func open(_ path: String, lora: String? = nil) throws -> LoadedModel {
        let loaded = try open(path)
        guard let lora else { return loaded }
        let weights = try LoRA.load(lora, for: loaded.model.config)
        var isDir: ObjCBool = false
        FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        try LoRA.apply(weights, to: loaded.model, gguf: !isDir.boolValue)
        return loaded
    }

    /// Opens a GGUF file or a model directory.
    public static func open(_ path: String) throws -> LoadedModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ForgeError.file(path, "no such file or directory") }
        if isDir.boolValue {
            let model = try ModelLoader.fromModelDir(path)
            let tokenizer = try ModelDir.loadTokenizer(from: path)
            var template: ChatTemplate?
            if let source = ModelDir.chatTemplateSource(path) {
                do { template = try ChatTemplate(source) }
                catch let e as ChatTemplateError { throw ForgeError.file(path, "chat template: \(e.description)") }
            }
            return LoadedModel(model: model, tokenizer: tokenizer, chatTemplate: template)
        }
        let file = try GGUFFile(path: path)
        let model = try ModelLoader.fromGGUF(file)
        let tokenizer = try GGUFVocab.load(file)
        guard tokenizer.vocabSize <= model.config.vocabSize else {
            throw ForgeError.file(path, "the tokenizer has \(tokenizer.vocabSize) tokens, the model only \(model.config.vocabSize)")
        }
        return LoadedModel(model: model, tokenizer: tokenizer, chatTemplate: try ChatTemplate.fromGGUF(file))
    }

    /// A model already in memory (a trained one, for instance) with its tokenizer and template.
    public init(model: InferenceModel, tokenizer: TextTokenizer, chatTemplate: ChatTemplate?) {
        self.model = model
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        endTokens = EndTokens.of(tokenizer)
        let text = { (id: Int32?) in
            id.map { String(decoding: tokenizer.bytes(of: [$0], skipSpecial: false), as: UTF8.self) } ?? ""
        }
        bosText = text(tokenizer.bosId)
        eosText = text(tokenizer.eosId)
    }

    /// The beginning-of-sequence token, if the vocabulary has one.
    public var bosId: Int32? { tokenizer.bosId }

    /// Whether prompts start with BOS (GGUF `tokenizer.ggml.add_bos_token`, tokenizer.json post-processor).
    public var addsBOS: Bool { tokenizer.addsBOS }

    /// Text bytes of a token; control tokens print nothing.
    public func bytes(of id: Int32) -> [UInt8] { tokenizer.bytes(of: [id], skipSpecial: true) }

    /// Token ids of a prompt; `special` lets marker tokens written in the text (such as <|im_start|>) count as such.
    public func encode(_ text: String, special: Bool, addBOS: Bool = true) -> [Int32] {
        tokenizer.encode(text, allowSpecial: special, addSpecialTokens: addBOS)
    }

    /// The prompt for a conversation in the model's chat format (generation prompt appended). A model
    /// without a template (a base model) gets a plain transcript: "System: …", "User: …", "Assistant:".
    public func chatPrompt(_ messages: [ChatMessage]) throws -> String {
        guard let chatTemplate else {
            return messages.map { "\($0.role.prefix(1).uppercased() + $0.role.dropFirst()): \($0.content)\n" }.joined() + "Assistant:"
        }
        do { return try chatTemplate.render(messages, addGenerationPrompt: true, bosToken: bosText, eosToken: eosText) }
        catch let e as ChatTemplateError { throw ForgeError("chat template: \(e.description)") }
    }

    /// Stop strings a chat needs: none with a template (end-of-turn tokens end replies); for the plain
    /// transcript, the start of the next turn.
    public var chatStops: [String] { chatTemplate == nil ? ["\nUser:", "\nSystem:"] : [] }

    /// A generator over a fresh session of `contextLength` positions.
    public func generator(contextLength: Int? = nil, cacheType: KVCacheType = .f16, cacheMemory: Int? = nil) throws -> Generator {
        let session = try InferenceSession(model: model, contextLength: contextLength, cacheType: cacheType, cacheMemory: cacheMemory)
        return Generator(session: session, endTokens: endTokens) { [self] id in bytes(of: id) }
    }
}
