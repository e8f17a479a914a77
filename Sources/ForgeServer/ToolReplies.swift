// ToolReplies: tool calling in chat completions. The prompt is rendered by ToolPrompt (the model's template, or the
// fallback block for templates without tools); a forced call (tool_choice "required" or a name) is started in the
// prompt and stopped at the end of its first call. The reply is read by ToolCallParser into OpenAI's `tool_calls`
// (ids "call_...", arguments as JSON text) with finish_reason "tool_calls". A reply whose calls cannot be read comes
// back as content with finish_reason "stop" and a `tool_call_error` field naming the problem (an extension of the
// message object, which clients keep as an extra field). Streaming with tools buffers the reply and sends it, as
// tool_calls deltas or as content, when the choice ends.
import ForgeTokenizer
import ForgeTools
import Foundation

extension CompletionService {
    /// The prompt of a chat request, with its tools when it has some.
    func chatPrompt(_ r: CompletionRequest) throws -> String {
        let usesTools = !r.tools.isEmpty || r.messages.contains { $0.role == "tool" || !$0.toolCalls.isEmpty }
        guard usesTools else { return try loaded.chatPrompt(r.messages) }
        return try ToolPrompt(loaded, messages: r.messages, tools: r.tools, choice: r.toolChoice).text
    }

    /// What the prompt already holds of the reply (a forced call's start).
    func toolPrefill(_ r: CompletionRequest) -> String {
        r.readsToolCalls ? ToolPrompt.prefill(ToolPrompt.format(of: loaded), tools: r.tools, choice: r.toolChoice) : ""
    }

    /// Stop strings for a forced call.
    func toolStops(_ r: CompletionRequest) -> [String] {
        toolPrefill(r).isEmpty ? [] : ToolPrompt.format(of: loaded).forcedStops
    }

    /// A chat reply as OpenAI's message object and finish reason: tool calls when the reply holds readable ones.
    func replyMessage(_ text: String, reason: String, _ r: CompletionRequest) -> (message: [String: Any], reason: String) {
        var message: [String: Any] = ["role": "assistant", "content": text, "refusal": NSNull()]
        guard r.readsToolCalls, reason != "content_filter" else { return (message, reason) }
        let prefill = toolPrefill(r)
        var parsed = ToolCallParser.parse(prefill + text, tools: r.tools.map(\.name), expectCall: !prefill.isEmpty)
        if !r.parallelToolCalls && parsed.calls.count > 1 { parsed.calls = [parsed.calls[0]] }
        if !parsed.problems.isEmpty { message["tool_call_error"] = parsed.problems.joined(separator: "; ") }
        guard !parsed.calls.isEmpty else {
            if !prefill.isEmpty { message["content"] = prefill + text }
            return (message, reason)
        }
        message["content"] = parsed.content ?? NSNull()
        message["tool_calls"] = parsed.calls.map { c -> [String: Any] in
            ["id": c.id, "type": "function", "function": ["name": c.name, "arguments": c.arguments]]
        }
        return (message, "tool_calls")
    }

    /// The deltas that end a buffered choice: its content or its tool calls (whole), then the finish reason.
    func replyDeltas(_ choice: Int, text: String, reason: String, _ r: CompletionRequest) -> [[String: Any]] {
        let (message, finish) = replyMessage(text, reason: reason, r)
        var delta: [String: Any] = [:]
        if let content = message["content"] as? String, !content.isEmpty { delta["content"] = content }
        if let calls = message["tool_calls"] as? [[String: Any]] {
            delta["tool_calls"] = calls.enumerated().map { i, c in c.merging(["index": i]) { a, _ in a } }
        }
        if let error = message["tool_call_error"] { delta["tool_call_error"] = error }
        var out: [[String: Any]] = []
        if !delta.isEmpty { out.append(["index": choice, "delta": delta, "logprobs": NSNull(), "finish_reason": NSNull()]) }
        out.append(["index": choice, "delta": [String: Any](), "logprobs": NSNull(), "finish_reason": finish])
        return out
    }
}
