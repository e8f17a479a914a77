// Agent: a model with tools, in a loop. Each step renders the conversation with the tools (ToolPrompt: the model's
// template or the fallback), generates, and reads the reply (ToolCallParser). Calls are run (after `confirm`, when
// set) and their results go back as "tool" messages; a call that cannot be read is reported back to the model as a
// user message, so that it can try again. The loop ends at a reply without calls, or after `maxSteps` steps with
// calls, when one last step without tools asks for the answer. `toolChoice` applies to the first step only (a forced
// call every step would never end); later steps are "auto".
import ForgeCore
import ForgeInference
import ForgeTokenizer
import ForgeTools
import Forge
import Foundation

/// What happens during a run, in order.
public enum AgentEvent {
    /// The model's text at a step (without the calls).
    case reply(step: Int, text: String)
    case toolCall(ToolCall)
    case toolResult(ToolCall, result: String, isError: Bool)
    /// A call the user declined (`confirm` returned false).
    case declined(ToolCall)
    /// Calls in the reply that could not be read (the model is told).
    case unreadableCalls(step: Int, problems: [String])
    /// JSON repairs made to read the calls.
    case repaired(step: Int, repairs: [String])
}

/// The end of a run.
public struct AgentResult {
    public var answer: String
    /// Model steps taken (the final answer's included).
    public var steps: Int
    public var toolCalls: Int
    /// Whether the step limit ended the calls.
    public var hitStepLimit: Bool
}

/// A tool-using loop over a local model.
public final class Agent {
    public let model: LanguageModel
    public let tools: [any AgentTool]
    public var settings: GenerationSettings
    /// Steps that may call tools.
    public var maxSteps: Int
    public var toolChoice: ToolChoice
    /// Asked before each call; false skips it (the model is told it was declined).
    public var confirm: ((ToolCall) -> Bool)?
    public var onEvent: (AgentEvent) -> Void = { _ in }
    /// The conversation so far (system, task, replies, calls and results).
    public private(set) var messages: [ChatMessage] = []

    public init(model: LanguageModel, tools: [any AgentTool], system: String? = nil, settings: GenerationSettings = GenerationSettings(),
                maxSteps: Int = 8, toolChoice: ToolChoice = .auto) throws {
        var seen = Set<String>()
        for t in tools where !seen.insert(t.definition.name).inserted { throw ForgeError("two tools are named '\(t.definition.name)'") }
        if case .function(let name) = toolChoice, !seen.contains(name) {
            throw ForgeError("--tool-choice \(name): no such tool (tools: \(tools.map(\.definition.name).joined(separator: ", ")))")
        }
        (self.model, self.tools, self.settings, self.maxSteps, self.toolChoice) = (model, tools, settings, maxSteps, toolChoice)
        if let system { messages.append(ChatMessage(role: "system", content: system)) }
    }

    /// Works on `task` until the model answers without calling a tool, or the step limit.
    public func run(_ task: String) async throws -> AgentResult {
        messages.append(ChatMessage(role: "user", content: task))
        let definitions = tools.map(\.definition)
        var calls = 0
        for step in 1...(maxSteps + 1) {
            let last = step > maxSteps
            let choice: ToolChoice = last ? .none : (step == 1 ? toolChoice : .auto)
            let prompt = try ToolPrompt(model.loaded, messages: messages, tools: definitions, choice: choice)
            let reply = try generate(prompt)
            if last {
                messages.append(ChatMessage(role: "assistant", content: reply.trimmingCharacters(in: .whitespacesAndNewlines)))
                onEvent(.reply(step: step, text: messages.last!.content))
                return AgentResult(answer: messages.last!.content, steps: step, toolCalls: calls, hitStepLimit: true)
            }
            let parsed = ToolCallParser.parse(prompt.prefill + reply, tools: definitions.map(\.name), expectCall: !prompt.prefill.isEmpty)
            if !parsed.repairs.isEmpty { onEvent(.repaired(step: step, repairs: parsed.repairs)) }
            if let text = parsed.content, !text.isEmpty { onEvent(.reply(step: step, text: text)) }
            if parsed.calls.isEmpty && parsed.problems.isEmpty {
                let answer = (parsed.content ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                messages.append(ChatMessage(role: "assistant", content: answer))
                return AgentResult(answer: answer, steps: step, toolCalls: calls, hitStepLimit: false)
            }
            if parsed.calls.isEmpty {
                // Unreadable calls: the model sees what it wrote and why it failed.
                onEvent(.unreadableCalls(step: step, problems: parsed.problems))
                messages.append(ChatMessage(role: "assistant", content: (prompt.prefill + reply).trimmingCharacters(in: .whitespacesAndNewlines)))
                messages.append(ChatMessage(role: "user", content: "Your tool call could not be read: \(parsed.problems.joined(separator: "; ")). "
                                            + "Call a tool with a valid JSON object, or answer in plain text."))
                continue
            }
            if !parsed.problems.isEmpty { onEvent(.unreadableCalls(step: step, problems: parsed.problems)) }
            messages.append(ChatMessage(role: "assistant", content: parsed.content ?? "", toolCalls: parsed.calls))
            for call in parsed.calls {
                calls += 1
                let (result, _) = await execute(call)
                messages.append(ChatMessage(role: "tool", content: result, toolCallID: call.id))
            }
        }
        fatalError("unreachable: the last step returns")
    }

    /// Runs one call; every failure becomes the result the model sees.
    func execute(_ call: ToolCall) async -> (String, Bool) {
        onEvent(.toolCall(call))
        if let confirm, !confirm(call) {
            onEvent(.declined(call))
            return ("The user declined this call.", true)
        }
        let result: String, isError: Bool
        do {
            guard let tool = tools.first(where: { $0.definition.name == call.name }) else { throw ForgeError("no tool named '\(call.name)'") }
            guard case .dict(let arguments) = call.argumentsValue else { throw ForgeError("the arguments are not a JSON object") }
            (result, isError) = (try await tool.call(arguments), false)
        } catch {
            (result, isError) = ("Error: \(error)", true)
        }
        onEvent(.toolResult(call, result: result, isError: isError))
        return (result, isError)
    }

    /// The run as JSON: answer, counts, and the messages in OpenAI's format (tool_calls, tool_call_id).
    public func transcript(_ result: AgentResult) -> String {
        let list = messages.map { m -> JinjaValue in
            var d = JinjaDict([("role", .string(m.role)), ("content", .string(m.content))])
            if !m.toolCalls.isEmpty {
                d["tool_calls"] = .list(m.toolCalls.map { c in .dict(JinjaDict([
                    ("id", .string(c.id)), ("type", .string("function")),
                    ("function", .dict(JinjaDict([("name", .string(c.name)), ("arguments", .string(c.arguments))]))),
                ])) })
            }
            if let id = m.toolCallID { d["tool_call_id"] = .string(id) }
            return .dict(d)
        }
        return JinjaValue.dict(JinjaDict([("answer", .string(result.answer)), ("steps", .int(result.steps)),
                                          ("tool_calls", .int(result.toolCalls)), ("hit_step_limit", .bool(result.hitStepLimit)),
                                          ("messages", .list(list))])).jsonText
    }

    /// One model turn: the reply after the prompt (and its prefill).
    func generate(_ prompt: ToolPrompt) throws -> String {
        let tokens = model.encode(prompt.text, special: true)
        let room = model.contextLength - tokens.count
        guard room > 16 else {
            throw ForgeError("the conversation needs \(tokens.count) tokens; the context holds \(model.contextLength) (use --context or fewer steps)")
        }
        var s = settings
        s.maxTokens = min(s.maxTokens, room)
        s.stop += model.loaded.chatStops + (prompt.prefill.isEmpty ? [] : prompt.format.forcedStops)
        // A forced call ends where its JSON closes: what a small model writes after it is not needed.
        var call = prompt.prefill.isEmpty ? nil : CallCompletion(prefill: prompt.prefill)
        return try model.generate(tokens: tokens, settings: s) { piece in !(call?.feed(piece) ?? false) }.text
    }
}
