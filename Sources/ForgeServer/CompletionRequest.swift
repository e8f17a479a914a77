// CompletionRequest: the body of POST /v1/chat/completions or /v1/completions, read and checked as the OpenAI API
// checks it: each field's type and range, with a 400 naming the parameter otherwise.
import ForgeInference
import ForgeTokenizer
import ForgeTools
import Foundation

/// A parsed completion request (chat or text).
public struct CompletionRequest: Sendable {
    public enum Kind: Sendable { case chat, text }
    public var kind: Kind
    public var model: String
    /// Chat: the conversation.
    public var messages: [ChatMessage] = []
    /// Text: one or more prompts (each becomes `n` choices).
    public var prompts: [String] = []
    /// The generation limit: max_completion_tokens, else max_tokens (each as given, checked against the server's).
    public var maxTokens: Int?
    public var maxTokensGiven: [String: Int] = [:]
    public var temperature: Float = 1
    public var topP: Float = 1
    public var n = 1
    public var stream = false
    public var includeUsage = false
    public var stop: [String] = []
    public var seed: UInt64?
    public var presencePenalty: Float = 0
    public var frequencyPenalty: Float = 0
    /// Log-probabilities asked for, and how many alternatives per token (nil: none).
    public var topLogprobs: Int?
    public var user: String?
    /// llama.cpp's and vLLM's extension: generate max_tokens whatever the model says (benchmarks).
    public var ignoreEOS = false
    /// Structured output (`response_format` json_object or json_schema); nil: free text.
    public var responseFormat: ResponseFormat?
    /// Chat: the functions the model may call, how it may call them (ToolRequest.swift), and whether several at once.
    public var tools: [ToolDefinition] = []
    public var toolChoice = ToolChoice.auto
    public var parallelToolCalls = true

    /// Reads a JSON body; errors are OpenAI's 400s, naming the parameter.
    public static func parse(_ body: Data, kind: Kind) throws(APIError) -> CompletionRequest {
        guard let object = try? JSONSerialization.jsonObject(with: body), let json = object as? [String: Any] else {
            throw .invalid("We could not parse the JSON body of your request. The body must be a JSON object.")
        }
        let f = Fields(json)
        var r = CompletionRequest(kind: kind, model: try f.string("model", required: true)!)
        switch kind {
        case .chat:
            guard let raw = json["messages"] else { throw .invalid("Missing required parameter: 'messages'.", param: "messages") }
            guard let list = raw as? [Any], !list.isEmpty else {
                throw .invalid("Invalid 'messages': expected a non-empty array of messages.", param: "messages")
            }
            for (i, m) in list.enumerated() { r.messages.append(try Self.message(m, i)) }
            try Self.checkToolReplies(r.messages)
            let ordered = json["tools"] == nil ? nil : try? LenientJSON.parse(String(decoding: body, as: UTF8.self)).value
            (r.tools, r.toolChoice, r.parallelToolCalls) = try Self.readTools(json, ordered: ordered)
        case .text:
            switch json["prompt"] {
            case let s as String: r.prompts = [s]
            case let a as [Any] where !a.isEmpty && a.allSatisfy({ $0 is String }): r.prompts = a as! [String]
            case nil: throw .invalid("Missing required parameter: 'prompt'.", param: "prompt")
            default: throw .invalid("Invalid type for 'prompt': expected a string or an array of strings.", param: "prompt")
            }
            if try f.bool("echo") == true { throw .invalid("'echo' is not supported.", param: "echo") }
            if json["suffix"] != nil && !(json["suffix"] is NSNull) { throw .invalid("'suffix' is not supported.", param: "suffix") }
        }
        for key in ["max_tokens", "max_completion_tokens"] {
            if let m = try f.int(key, 1...Int(Int32.max)) { r.maxTokensGiven[key] = m }
        }
        r.maxTokens = r.maxTokensGiven["max_completion_tokens"] ?? r.maxTokensGiven["max_tokens"]
        r.temperature = Float(try f.number("temperature", 0...2) ?? 1)
        r.topP = Float(try f.number("top_p", 0...1) ?? 1)
        if r.topP == 0 { r.topP = Float.leastNormalMagnitude }
        r.n = try f.int("n", 1...128) ?? 1
        r.stream = try f.bool("stream") ?? false
        if let options = json["stream_options"], !(options is NSNull) {
            guard let o = options as? [String: Any] else { throw .invalid("Invalid type for 'stream_options': expected an object.", param: "stream_options") }
            guard r.stream else { throw .invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", param: "stream_options") }
            r.includeUsage = try Fields(o, prefix: "stream_options.").bool("include_usage") ?? false
        }
        switch json["stop"] {
        case nil, is NSNull: break
        case let s as String: r.stop = [s]
        case let a as [Any] where a.count <= 4 && a.allSatisfy({ $0 is String }): r.stop = a as! [String]
        default: throw .invalid("Invalid 'stop': expected a string or an array of up to 4 strings.", param: "stop")
        }
        if let seed = try f.int("seed", Int.min...Int.max) { r.seed = UInt64(bitPattern: Int64(seed)) }
        r.presencePenalty = Float(try f.number("presence_penalty", -2...2) ?? 0)
        r.frequencyPenalty = Float(try f.number("frequency_penalty", -2...2) ?? 0)
        r.user = try f.string("user")
        r.ignoreEOS = try f.bool("ignore_eos") ?? false
        r.responseFormat = try ResponseFormat.parse(body, present: json["response_format"])
        switch kind {
        case .chat:
            let wants = try f.bool("logprobs") ?? false
            let top = try f.int("top_logprobs", 0...20)
            if top != nil && !wants { throw .invalid("Invalid 'top_logprobs': 'logprobs' must be set to true.", param: "top_logprobs") }
            r.topLogprobs = wants ? (top ?? 0) : nil
        case .text:
            r.topLogprobs = try f.int("logprobs", 0...5)
        }
        return r
    }

    static func message(_ m: Any, _ i: Int) throws(APIError) -> ChatMessage {
        guard let d = m as? [String: Any] else { throw .invalid("Invalid 'messages[\(i)]': expected an object.", param: "messages[\(i)]") }
        guard let role = d["role"] as? String, ["system", "developer", "user", "assistant", "tool"].contains(role) else {
            throw .invalid("Invalid 'messages[\(i)].role': expected one of system, developer, user, assistant, tool.",
                           param: "messages[\(i)].role")
        }
        var text = ""
        switch d["content"] {
        case let s as String: text = s
        case let parts as [Any]:
            for (j, p) in parts.enumerated() {
                guard let part = p as? [String: Any], part["type"] as? String == "text", let t = part["text"] as? String else {
                    throw .invalid("Invalid 'messages[\(i)].content[\(j)]': only text parts are supported.", param: "messages[\(i)].content")
                }
                text += t
            }
        case nil, is NSNull:
            // An assistant message that only calls tools has no content.
            if role == "assistant", let calls = d["tool_calls"] as? [Any], !calls.isEmpty { break }
            throw .invalid("Missing required parameter: 'messages[\(i)].content'.", param: "messages[\(i)].content")
        default: throw .invalid("Invalid type for 'messages[\(i)].content': expected a string or an array of text parts.",
                                param: "messages[\(i)].content")
        }
        var message = ChatMessage(role: role == "developer" ? "system" : role, content: text)
        try toolFields(d, i, into: &message)
        return message
    }

    /// The sampling settings of this request (OpenAI's: no top-k or min-p; penalties over the whole text so far).
    public func settings(maxTokens: Int) -> GenerationSettings {
        var s = GenerationSettings()
        s.maxTokens = maxTokens
        s.stop = stop
        s.sampling.temperature = temperature
        s.sampling.topP = topP
        s.sampling.topK = 0
        s.sampling.minP = 0
        s.sampling.presencePenalty = presencePenalty
        s.sampling.frequencyPenalty = frequencyPenalty
        s.sampling.penaltyWindow = -1
        s.sampling.seed = seed ?? UInt64.random(in: 0...UInt64.max)
        return s
    }
}

/// Typed reads of JSON fields with OpenAI's error messages.
struct Fields {
    let json: [String: Any]
    var prefix = ""
    init(_ json: [String: Any], prefix: String = "") { (self.json, self.prefix) = (json, prefix) }

    func value(_ key: String) -> Any? {
        guard let v = json[key], !(v is NSNull) else { return nil }
        return v
    }

    func string(_ key: String, required: Bool = false) throws(APIError) -> String? {
        guard let v = value(key) else {
            if required { throw .invalid("Missing required parameter: '\(prefix + key)'.", param: prefix + key) }
            return nil
        }
        guard let s = v as? String else { throw .invalid("Invalid type for '\(prefix + key)': expected a string.", param: prefix + key) }
        return s
    }

    /// JSONSerialization gives numbers and booleans alike as NSNumber (`0 as? Bool` succeeds): booleans are the ones
    /// of type "c".
    static func isBool(_ v: Any) -> Bool {
        guard let n = v as? NSNumber else { return false }
        return String(cString: n.objCType) == "c"
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard Self.isBool(v), let b = v as? Bool else {
            throw .invalid("Invalid type for '\(prefix + key)': expected a boolean.", param: prefix + key)
        }
        return b
    }

    func int(_ key: String, _ range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let v = value(key) else { return nil }
        let n: Int
        if Self.isBool(v) { throw .invalid("Invalid type for '\(prefix + key)': expected an integer.", param: prefix + key) }
        if let i = v as? Int { n = i } else if let d = v as? Double, d == d.rounded(), abs(d) < 9e18 { n = Int(d) } else {
            throw .invalid("Invalid type for '\(prefix + key)': expected an integer.", param: prefix + key)
        }
        guard range.contains(n) else {
            throw .invalid("Invalid '\(prefix + key)': \(n) is outside \(range.lowerBound)...\(range.upperBound).", param: prefix + key,
                           code: n < range.lowerBound ? "integer_below_min_value" : "integer_above_max_value")
        }
        return n
    }

    func number(_ key: String, _ range: ClosedRange<Double>) throws(APIError) -> Double? {
        guard let v = value(key) else { return nil }
        let d: Double
        if Self.isBool(v) { throw .invalid("Invalid type for '\(prefix + key)': expected a number.", param: prefix + key) }
        if let i = v as? Int { d = Double(i) } else if let x = v as? Double { d = x } else {
            throw .invalid("Invalid type for '\(prefix + key)': expected a number.", param: prefix + key)
        }
        guard d.isFinite, range.contains(d) else {
            throw .invalid("Invalid '\(prefix + key)': \(d) is outside \(range.lowerBound)...\(range.upperBound).", param: prefix + key)
        }
        return d
    }
}
