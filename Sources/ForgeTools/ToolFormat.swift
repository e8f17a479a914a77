// ToolFormat: how a model family writes tool calls, read from its chat template. What the templates show
// (llama.cpp's copies of the models' own templates; Tests/ForgeTests/Fixtures/chat_templates.json):
//   Qwen 2.5 (and Hermes 2/3, Qwen 3, SmolLM3): tools as JSON lines inside <tools></tools> in the system turn; a call is
//     `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`; results come back inside <tool_response> in a
//     user turn.
//   Llama 3.1/3.2/3.3: tools as indented JSON in the first user turn ("Environment: ipython" in the system turn); a
//     call is a bare JSON object `{"name": ..., "parameters": {...}}`; results come back in an `ipython` turn.
//     Built-in tools (brave_search, wolfram_alpha, code) start with `<|python_tag|>`.
//   Mistral Nemo / Small 3.2: `[AVAILABLE_TOOLS]` before the last user turn; calls are `[TOOL_CALLS]` and a JSON list
//     of `{"name", "arguments"}` (ids of 9 letters or digits).
//   SmolLM2 (and Gemma 2): no tools in the template (it loops over role and content only). Forge then uses the
//     Hermes convention as a fallback: the tool block in the system message (ToolPrompt).
import ForgeTokenizer

/// A family's way of writing tool calls.
public enum ToolFormat: String, Sendable {
    /// `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (Hermes, Qwen 2.5; Forge's fallback).
    case hermes
    /// A bare `{"name": ..., "parameters": {...}}` (Llama 3.x; `<|python_tag|>` for built-in tools).
    case llama
    /// `[TOOL_CALLS][{"name": ..., "arguments": {...}}]` (Mistral).
    case mistral

    /// The format a chat template teaches (Hermes when it shows none, as for the fallback).
    public static func of(templateSource source: String?) -> ToolFormat {
        guard let source else { return .hermes }
        if source.contains("<tool_call>") { return .hermes }
        if source.contains("[TOOL_CALLS]") { return .mistral }
        if source.contains("\"parameters\"") || source.contains("<|python_tag|>") { return .llama }
        return .hermes
    }

    /// The start of a reply that calls `tool` (nil: some tool; the model writes the name): a call forced by writing its
    /// beginning into the prompt, so that the model only completes it. With a tool, the arguments object is opened and,
    /// when the schema requires arguments, the first one's key written (and its opening quote, for a string), since a
    /// small model left to itself may write a bare value there.
    public func prefill(for tool: ToolDefinition?) -> String {
        var start = "{\"name\": \""
        if let tool {
            start = "{\"name\": " + JinjaValue.string(tool.name).jsonText + ", \"" + argumentsKey + "\": {"
            if let (key, isString) = tool.firstRequiredArgument { start += JinjaValue.string(key).jsonText + ": " + (isString ? "\"" : "") }
        }
        switch self {
        case .hermes: return "<tool_call>\n" + start
        case .llama: return start
        case .mistral: return "[TOOL_CALLS][" + start
        }
    }

    /// Stop strings once a call is forced: the end of the first call where the format marks it.
    public var forcedStops: [String] { self == .hermes ? ["</tool_call>"] : [] }

    var argumentsKey: String { self == .llama ? "parameters" : "arguments" }

    /// A call written as this format writes it (for a template that cannot carry `tool_calls`).
    public func text(_ call: ToolCall) -> String {
        let body = "{\"name\": " + JinjaValue.string(call.name).jsonText + ", \"" + argumentsKey + "\": " + call.argumentsValue.jsonText + "}"
        switch self {
        case .hermes: return "<tool_call>\n" + body + "\n</tool_call>"
        case .llama: return body
        case .mistral: return "[TOOL_CALLS][" + body + "]"
        }
    }
}

/// Watches a forced call as it is generated and tells when the part the model was asked to finish has closed (the
/// arguments object of a named call, the call of an unnamed one), so that generation can stop there: a small model
/// may go on inside the call object after its arguments. Strings and escapes are followed.
public struct CallCompletion {
    var depth = 0, inString = false, escaped = false
    /// The bracket depth at the end of the prefill: the model's part has closed when the depth falls below it.
    var floor = 0

    public init(prefill: String) {
        _ = feed(prefill)
        floor = depth
    }

    /// Reads more of the reply; true once the model's part has closed.
    public mutating func feed(_ text: String) -> Bool {
        for b in text.utf8 {
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch b {
            case UInt8(ascii: "\"") where depth > 0: inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]") where depth > 0:
                depth -= 1
                if depth < floor { return true }
            default: break
            }
        }
        return false
    }
}
