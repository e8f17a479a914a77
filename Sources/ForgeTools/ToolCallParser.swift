// ToolCallParser: a model's reply read into tool calls, whichever family's convention it follows and however small
// the model. Calls are found in `<tool_call>` blocks (closing tag optional), after `<|python_tag|>` or `[TOOL_CALLS]`,
// in ``` fences, or as a bare JSON object or list; a forced call is read from its first `{`. Each is an object with
// "name" and "arguments" (or "parameters", or OpenAI's {"function": {...}}); its JSON is read leniently (LenientJSON:
// single quotes, trailing commas, missing closing braces, ...), and arguments given as a string are read the same
// way. What cannot be read, or names a tool that was not offered, is reported as a problem, never thrown.
import ForgeTokenizer

/// A reply split into text and tool calls.
public struct ParsedReply: Sendable, Equatable {
    /// The text that is not a call (nil when there is none); the whole reply when no call could be read.
    public var content: String?
    public var calls: [ToolCall] = []
    /// Repairs made to read the calls ("trailing comma", "missing }"); empty when they were valid JSON.
    public var repairs: [String] = []
    /// Calls that could not be read, in words; they are not in `calls`.
    public var problems: [String] = []

    public init(content: String? = nil, calls: [ToolCall] = [], repairs: [String] = [], problems: [String] = []) {
        (self.content, self.calls, self.repairs, self.problems) = (content, calls, repairs, problems)
    }
}

public enum ToolCallParser {
    /// Reads `reply` (including any prefill). `tools` are the names a call may use (empty: any); `expectCall` (a
    /// forced call) reads the reply from its first `{` even without markers.
    public static func parse(_ reply: String, tools: [String] = [], expectCall: Bool = false) -> ParsedReply {
        var segments: [Substring] = [], outside = "", explicit = true
        var text = Substring(reply)
        for marker in ["<|python_tag|>", "[TOOL_CALLS]"] where text.contains(marker) {
            text = Substring(text.replacingOccurrences(of: marker, with: "\n"))
            explicit = true
            segments = [text]
        }
        if segments.isEmpty && text.contains("<tool_call>") {
            (segments, outside) = blocks(text, open: "<tool_call>", close: "</tool_call>")
        }
        if segments.isEmpty && text.contains("```") {
            (segments, outside) = blocks(text, open: "```", close: "```")
            explicit = false
        }
        if segments.isEmpty {
            let trimmed = text.drop { $0.isWhitespace }
            if trimmed.first == "{" || trimmed.first == "[" { segments = [trimmed]; explicit = expectCall }
            else if expectCall, let brace = text.firstIndex(of: "{") {
                segments = [text[brace...]]
                outside = String(text[..<brace])
            }
        }
        var result = ParsedReply()
        var notCalls: [Substring] = []
        for (k, segment) in segments.enumerated() {
            let body = unfenced(segment)
            let reading: LenientJSON.Reading
            do { reading = try LenientJSON.read(String(body), lenient: true) } catch {
                if explicit { result.problems.append("call \(k + 1) is not JSON: \(error)") } else { notCalls.append(segment) }
                continue
            }
            let objects: [JinjaValue]
            if case .list(let items) = reading.value { objects = items } else { objects = [reading.value] }
            guard objects.allSatisfy(isCallShaped) else {
                if explicit { result.problems.append("call \(k + 1) is not an object with a \"name\"") } else { notCalls.append(segment) }
                continue
            }
            result.repairs += reading.repairs.filter { !result.repairs.contains($0) }
            let rest = String(body.utf8.dropFirst(reading.length)) ?? ""
            if rest.contains(where: { !$0.isWhitespace && !"}]`".contains($0) }) { outside += rest }
            for object in objects {
                switch call(object, tools: tools) {
                case .success(let (c, repairs)):
                    result.calls.append(c)
                    result.repairs += repairs.filter { !result.repairs.contains($0) }
                case .failure(let problem): result.problems.append(problem.description)
                }
            }
        }
        if result.calls.isEmpty {
            result.content = reply
        } else {
            let rest = (outside + notCalls.joined(separator: "\n")).trimmingCharacters(in: .whitespacesAndNewlines)
            result.content = rest.isEmpty ? nil : rest
        }
        return result
    }

    /// The text inside each `open`…`close` (the last one may be left open), and the text around them.
    static func blocks(_ text: Substring, open: String, close: String) -> ([Substring], String) {
        var segments: [Substring] = [], outside = "", rest = text
        while let start = rest.range(of: open) {
            outside += rest[..<start.lowerBound]
            let after = rest[start.upperBound...]
            if let end = after.range(of: close) {
                segments.append(after[..<end.lowerBound])
                rest = after[end.upperBound...]
            } else {
                segments.append(after)
                rest = ""
            }
        }
        return (segments, outside + rest)
    }

    /// A segment without a fence and its language tag (```json ... ```).
    static func unfenced(_ segment: Substring) -> Substring {
        var s = segment.drop { $0.isWhitespace }
        if s.hasPrefix("```") { s = s.dropFirst(3) }
        if let brace = s.firstIndex(where: { $0 == "{" || $0 == "[" }), s[..<brace].allSatisfy({ $0.isLetter || $0.isWhitespace }) {
            s = s[brace...]
        }
        return s
    }

    static func isCallShaped(_ v: JinjaValue) -> Bool {
        guard case .dict(let d) = v else { return false }
        return d["name"] != nil || d["function"] != nil
    }

    struct Problem: Error, CustomStringConvertible { let description: String }

    /// One call object as a ToolCall with its arguments as a JSON object's text.
    static func call(_ object: JinjaValue, tools: [String]) -> Result<(ToolCall, [String]), Problem> {
        guard case .dict(var d) = object else { return .failure(Problem(description: "a call is not an object")) }
        if case .dict(let f)? = d["function"] { for (k, v) in f.pairs { d[k] = v } }
        else if case .string(let name)? = d["function"], d["name"] == nil { d["name"] = .string(name) }
        guard case .string(let name)? = d["name"], !name.isEmpty else { return .failure(Problem(description: "a call has no function name")) }
        guard tools.isEmpty || tools.contains(name) else {
            return .failure(Problem(description: "the call names an unknown tool '\(name)' (tools: \(tools.joined(separator: ", ")))"))
        }
        var repairs: [String] = []
        var arguments = d["arguments"] ?? d["parameters"] ?? .dict(JinjaDict())
        if case .string(let s) = arguments {
            do {
                let (v, r) = try LenientJSON.parse(s, lenient: true)
                (arguments, repairs) = (v, r)
            } catch {
                return .failure(Problem(description: "the arguments of '\(name)' are not JSON: \(error)"))
            }
        }
        if case .none = arguments { arguments = .dict(JinjaDict()) }
        guard case .dict = arguments else { return .failure(Problem(description: "the arguments of '\(name)' are not a JSON object")) }
        return .success((ToolCall(name: name, arguments: arguments.jsonText), repairs))
    }
}
