// ToolRequest: the tool-calling parts of a chat request, read and checked as the OpenAI API checks them: `tools`
// (type "function" with name, description and a JSON-schema `parameters`), `tool_choice`, `parallel_tool_calls`,
// assistant messages carrying `tool_calls` and "tool" messages answering them by `tool_call_id`.
import ForgeTokenizer
import ForgeTools
import Foundation

extension CompletionRequest {
    /// Whether the reply is read for tool calls (tools offered, tool_choice not "none").
    public var readsToolCalls: Bool { kind == .chat && !tools.isEmpty && toolChoice != .none }

    /// Reads `tools`, `tool_choice` and `parallel_tool_calls`. The tools come from `ordered` (the body read with its key
    /// order kept), since templates print them as given.
    static func readTools(_ json: [String: Any], ordered: JinjaValue?) throws(APIError) -> (tools: [ToolDefinition], choice: ToolChoice, parallel: Bool) {
        let f = Fields(json)
        var tools: [ToolDefinition] = []
        if let raw = f.value("tools") {
            guard let list = raw as? [Any] else { throw .invalid("Invalid type for 'tools': expected an array of objects.", param: "tools") }
            var orderedList: [JinjaValue] = []
            if case .dict(let body)? = ordered, case .list(let l)? = body["tools"], l.count == list.count { orderedList = l }
            for (i, t) in list.enumerated() {
                tools.append(try tool(t, orderedList.indices.contains(i) ? orderedList[i] : nil, "tools[\(i)]"))
            }
            if Set(tools.map(\.name)).count != tools.count {
                throw .invalid("Invalid 'tools': function names must be unique.", param: "tools")
            }
        }
        var choice = ToolChoice.auto
        switch f.value("tool_choice") {
        case nil: choice = .auto
        case let s as String:
            guard ["none", "auto", "required"].contains(s) else {
                throw .invalid("Invalid value: '\(s)'. Supported values are: 'none', 'auto', and 'required'.", param: "tool_choice")
            }
            choice = ToolChoice(s)
        case let d as [String: Any]:
            guard d["type"] as? String == "function", let fn = d["function"] as? [String: Any], let name = fn["name"] as? String else {
                throw .invalid("Invalid 'tool_choice': expected \"none\", \"auto\", \"required\" or {\"type\": \"function\", "
                               + "\"function\": {\"name\": ...}}.", param: "tool_choice")
            }
            choice = .function(name)
        default:
            throw .invalid("Invalid type for 'tool_choice': expected a string or an object.", param: "tool_choice")
        }
        if f.value("tool_choice") != nil && tools.isEmpty {
            throw .invalid("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", param: "tool_choice")
        }
        if case .function(let name) = choice, !tools.contains(where: { $0.name == name }) {
            throw .invalid("Invalid value for 'tool_choice': function '\(name)' not found in 'tools' (\(tools.map(\.name).joined(separator: ", "))).",
                           param: "tool_choice")
        }
        return (tools, choice, try f.bool("parallel_tool_calls") ?? true)
    }

    static func tool(_ t: Any, _ ordered: JinjaValue?, _ path: String) throws(APIError) -> ToolDefinition {
        guard let d = t as? [String: Any] else { throw .invalid("Invalid type for '\(path)': expected an object.", param: path) }
        guard let type = d["type"] as? String else { throw .invalid("Missing required parameter: '\(path).type'.", param: path + ".type") }
        guard type == "function" else {
            throw .invalid("Invalid value: '\(type)'. Supported values are: 'function'.", param: path + ".type")
        }
        guard let fn = d["function"] as? [String: Any] else {
            throw .invalid("Missing required parameter: '\(path).function'.", param: path + ".function")
        }
        let f = Fields(fn, prefix: path + ".function.")
        let name = try f.string("name", required: true)!
        guard ToolDefinition.isValidName(name) else {
            throw .invalid("Invalid '\(path).function.name': string does not match pattern. Expected a string that matches the "
                           + "pattern '^[a-zA-Z0-9_-]{1,64}$'.", param: path + ".function.name")
        }
        var parameters = JinjaValue.dict(JinjaDict([("type", .string("object")), ("properties", .dict(JinjaDict()))]))
        if let p = f.value("parameters") {
            guard p is [String: Any] else {
                throw .invalid("Invalid type for '\(path).function.parameters': expected an object (a JSON schema).", param: path + ".function.parameters")
            }
            if case .dict(let o)? = ordered, case .dict(let of)? = o["function"], let op = of["parameters"] { parameters = op }
            else { parameters = JinjaValue.from(p) }
        }
        return ToolDefinition(name: name, description: try f.string("description") ?? "", parameters: parameters)
    }

    /// The tool fields of `messages[i]`: an assistant's `tool_calls`, a tool message's `tool_call_id`.
    static func toolFields(_ d: [String: Any], _ i: Int, into message: inout ChatMessage) throws(APIError) {
        let path = "messages[\(i)]"
        if message.role == "tool" {
            guard let id = d["tool_call_id"] as? String else {
                throw .invalid("Missing required parameter: '\(path).tool_call_id'.", param: path + ".tool_call_id")
            }
            message.toolCallID = id
        }
        guard message.role == "assistant", let raw = d["tool_calls"], !(raw is NSNull) else { return }
        guard let list = raw as? [Any] else { throw .invalid("Invalid type for '\(path).tool_calls': expected an array.", param: path + ".tool_calls") }
        for (j, c) in list.enumerated() {
            let p = "\(path).tool_calls[\(j)]"
            guard let call = c as? [String: Any], let fn = call["function"] as? [String: Any] else {
                throw .invalid("Missing required parameter: '\(p).function'.", param: p + ".function")
            }
            let id = try Fields(call, prefix: p + ".").string("id", required: true)!
            let f = Fields(fn, prefix: p + ".function.")
            message.toolCalls.append(ToolCall(id: id, name: try f.string("name", required: true)!,
                                              arguments: try f.string("arguments", required: true)!))
        }
    }

    /// OpenAI's rule: a "tool" message answers a call of an earlier assistant message.
    static func checkToolReplies(_ messages: [ChatMessage]) throws(APIError) {
        var open = Set<String>()
        for (i, m) in messages.enumerated() {
            if m.role == "assistant" { open.formUnion(m.toolCalls.map(\.id)) }
            if m.role == "tool", let id = m.toolCallID, !open.contains(id) {
                throw .invalid("Invalid parameter: messages with role 'tool' must be a response to a preceding message with "
                               + "'tool_calls' (no call has id '\(id)').", param: "messages[\(i)].tool_call_id")
            }
        }
    }
}
