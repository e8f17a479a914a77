// ToolPrompt: a conversation with tools as the model's prompt. A template that renders `tools` (probed by rendering
// one) gets them as transformers passes them: the `tools` variable in OpenAI's format, assistant messages with
// `tool_calls`, "tool" messages with `tool_call_id`. A template without tools (SmolLM2's) or a model without a
// template gets the fallback, all in text it can carry: a system block describing the tools and asking for Hermes'
// `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, assistant calls written that way, and tool results as a
// user turn of `<tool_response>` blocks. A forced call (tool_choice "required" or a name) is started in the prompt.
import ForgeCore
import ForgeInference
import ForgeTokenizer

/// A rendered prompt with tools.
public struct ToolPrompt: Sendable {
    /// The text to tokenize (special tokens allowed), ending with `prefill`.
    public var text: String
    /// The start of the reply written for the model (a forced call), to put back before its reply is parsed.
    public var prefill: String
    /// The convention the model is asked to follow.
    public var format: ToolFormat
    /// Whether the model's own template rendered the tools (false: the fallback).
    public var native: Bool

    /// Renders `messages` with `tools` offered under `choice`.
    public init(_ loaded: LoadedModel, messages: [ChatMessage], tools: [ToolDefinition], choice: ToolChoice) throws {
        let offered = choice == .none ? [] : tools
        native = loaded.chatTemplate.map { Self.rendersTools($0) } ?? false
        format = Self.format(of: loaded)
        if native, let template = loaded.chatTemplate {
            var variables: [String: JinjaValue] = [:]
            if !offered.isEmpty { variables["tools"] = .list(offered.map(\.templateValue)) }
            do {
                text = try template.render(messages, addGenerationPrompt: true, bosToken: loaded.bosText, eosToken: loaded.eosText,
                                           variables: variables)
            } catch let e as ChatTemplateError { throw ForgeError("chat template: \(e.description)") }
        } else {
            text = try loaded.chatPrompt(Self.fallback(messages, tools: offered))
        }
        prefill = Self.prefill(format, tools: offered, choice: choice)
        text += prefill
    }

    /// The start of a forced call (tool_choice "required" or a name; "required" with one tool names it), else "".
    public static func prefill(_ format: ToolFormat, tools: [ToolDefinition], choice: ToolChoice) -> String {
        guard !tools.isEmpty else { return "" }
        switch choice {
        case .required where tools.count == 1: return format.prefill(for: tools[0])
        case .required: return format.prefill(for: nil)
        case .function(let name): return format.prefill(for: tools.first { $0.name == name } ?? ToolDefinition(name: name))
        case .auto, .none: return ""
        }
    }

    /// The convention a model is asked to follow: its template's when it renders tools, else the Hermes fallback.
    public static func format(of loaded: LoadedModel) -> ToolFormat {
        guard let template = loaded.chatTemplate, rendersTools(template) else { return .hermes }
        return ToolFormat.of(templateSource: template.source)
    }

    /// Whether a template renders the `tools` it is given (llama.cpp's capability probe: a tool's name shows up).
    public static func rendersTools(_ template: ChatTemplate) -> Bool {
        let probe = ToolDefinition(name: "forge_probe_tool", description: "probe")
        let out = try? template.render([ChatMessage(role: "user", content: "hi")], addGenerationPrompt: true,
                                       variables: ["tools": .list([probe.templateValue])])
        return out?.contains("forge_probe_tool") ?? false
    }

    /// The conversation in plain messages: the tool block in the system message, calls and results as text.
    public static func fallback(_ messages: [ChatMessage], tools: [ToolDefinition]) -> [ChatMessage] {
        var out: [ChatMessage] = []
        for m in messages {
            switch m.role {
            case "assistant" where !m.toolCalls.isEmpty:
                let calls = m.toolCalls.map { ToolFormat.hermes.text($0) }.joined(separator: "\n")
                out.append(ChatMessage(role: "assistant", content: m.content.isEmpty ? calls : m.content + "\n" + calls))
            case "tool":
                let block = "<tool_response>\n" + m.content + "\n</tool_response>"
                // Results of consecutive calls share one user turn (templates that want roles to alternate accept it).
                if let last = out.last, last.role == "user", last.content.hasSuffix("</tool_response>") {
                    out[out.count - 1].content += "\n" + block
                } else {
                    out.append(ChatMessage(role: "user", content: block))
                }
            default:
                out.append(ChatMessage(role: m.role, content: m.content))
            }
        }
        guard !tools.isEmpty else { return out }
        let block = toolBlock(tools)
        if let first = out.first, first.role == "system" {
            out[0].content = first.content + "\n\n" + block
        } else {
            out.insert(ChatMessage(role: "system", content: block), at: 0)
        }
        return out
    }

    /// The system-message text that describes the tools and the call format (Hermes' tags, Forge's words).
    public static func toolBlock(_ tools: [ToolDefinition]) -> String {
        "# Tools\n\nYou can call these functions (JSON signatures):\n<tools>\n"
            + tools.map(\.templateValue.jsonText).joined(separator: "\n")
            + "\n</tools>\n\nTo call a function, reply with one JSON object per call inside <tool_call></tool_call> tags:\n"
            + "<tool_call>\n{\"name\": \"function_name\", \"arguments\": {\"argument\": \"value\"}}\n</tool_call>\n"
            + "Function results come back inside <tool_response></tool_response> tags. Answer in plain text when no call is needed."
    }
}
