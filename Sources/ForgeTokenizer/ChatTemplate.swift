// ChatTemplate: renders a conversation with a model's own Jinja chat template (from GGUF metadata
// `tokenizer.chat_template` or tokenizer_config.json), as Hugging Face transformers does: messages,
// add_generation_prompt, bos/eos tokens and extra variables are visible to the template.
import ForgeCore
import Foundation

/// One chat message.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    /// The tools an assistant message calls (OpenAI's `tool_calls`).
    public var toolCalls: [ToolCall] = []
    /// The call a "tool" message answers (OpenAI's `tool_call_id`).
    public var toolCallID: String?
    public init(role: String, content: String, toolCalls: [ToolCall] = [], toolCallID: String? = nil) {
        (self.role, self.content, self.toolCalls, self.toolCallID) = (role, content, toolCalls, toolCallID)
    }

    /// The message as transformers hands an OpenAI-format message to a template: `tool_calls` only when there are
    /// some (Llama's template tests `'tool_calls' in message`), content none when a tool call has no text, and each
    /// call's arguments as an object (templates print them with `tojson`).
    public var templateValue: JinjaValue {
        var d = JinjaDict([("role", .string(role)), ("content", content.isEmpty && !toolCalls.isEmpty ? .none : .string(content))])
        if !toolCalls.isEmpty { d["tool_calls"] = .list(toolCalls.map(\.templateValue)) }
        if let toolCallID { d["tool_call_id"] = .string(toolCallID) }
        return .dict(d)
    }
}

/// A compiled chat template.
public final class ChatTemplate: @unchecked Sendable {
    let template: JinjaTemplate
    public var source: String { template.source }

    /// Parses `source`; unsupported constructs are errors naming them and the line.
    public init(_ source: String) throws {
        template = try JinjaTemplate(source)
    }

    /// Renders `messages`. `variables` adds template variables (e.g. tools, date_string) as
    /// JSON-like values; `now` fixes the date templates print (nil: the clock). Errors raised by the
    /// template (raise_exception) are thrown.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool, bosToken: String = "", eosToken: String = "",
                       variables: [String: JinjaValue] = [:], now: Date? = nil) throws -> String {
        var globals: [String: JinjaValue] = [
            "messages": .list(messages.map(\.templateValue)),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken),
        ]
        for (k, v) in variables { globals[k] = v }
        return try template.render(globals, now: now)
    }

    /// The template of a GGUF file (its metadata) or a model directory (tokenizer_config.json's
    /// "chat_template"); nil when there is none.
    public static func load(from path: String) throws -> ChatTemplate? {
        if path.hasSuffix(".gguf") { return try fromGGUF(GGUFFile(path: path)) }
        let config = path + "/tokenizer_config.json"
        guard let data = FileManager.default.contents(atPath: config) else { return nil }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ForgeError.file(config, "not valid JSON")
        }
        guard let src = json["chat_template"] as? String else { return nil }
        do { return try ChatTemplate(src) } catch let e as ChatTemplateError { throw ForgeError.file(config, "chat template: \(e.description)") }
    }

    /// The template stored in a GGUF file, if any.
    public static func fromGGUF(_ file: GGUFFile) throws -> ChatTemplate? {
        guard let s = file["tokenizer.chat_template"]?.string else { return nil }
        do { return try ChatTemplate(s) } catch let e as ChatTemplateError { throw ForgeError.file(file.path, "chat template: \(e.description)") }
    }
}
