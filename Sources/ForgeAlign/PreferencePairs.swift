// PreferencePairs: (prompt, chosen, rejected) examples for reward models and DPO, read from JSONL in TRL's two
// layouts: conversational ({"prompt": [messages], "chosen": [messages], "rejected": [messages]}) or plain strings
// (the prompt a user message, the replies assistant messages). Without "prompt", chosen and rejected are whole
// conversations whose shared leading messages are the prompt (TRL's implicit prompt).
import ForgeCore
import ForgeTokenizer
import Foundation

/// A prompt and two replies, the first preferred.
public struct PreferencePair: Sendable, Equatable {
    public var prompt: [ChatMessage]
    public var chosen: ChatMessage
    public var rejected: ChatMessage
    public var origin: String
    public init(prompt: [ChatMessage], chosen: ChatMessage, rejected: ChatMessage, origin: String) {
        (self.prompt, self.chosen, self.rejected, self.origin) = (prompt, chosen, rejected, origin)
    }
}

/// A pair as tokens: the prompt, and each reply's tokens after it (TRL's split).
public struct PairExample: Sendable, Equatable {
    public var prompt: [Int32]
    public var chosen: [Int32]
    public var rejected: [Int32]
    public var origin: String
}

public enum PreferencePairs {
    /// Reads pairs from JSONL files; errors name the file, line and problem.
    public static func read(_ paths: [String]) throws -> [PreferencePair] {
        var out: [PreferencePair] = []
        for path in paths { try forEachJSONLine(path) { object, origin in out.append(try pair(object, origin: origin)) } }
        guard !out.isEmpty else { throw ForgeError("no preference pairs in \(paths.joined(separator: ", "))") }
        return out
    }

    static func messages(_ value: Any?, role: String, field: String, origin: String) throws -> [ChatMessage] {
        if let s = value as? String { return [ChatMessage(role: role, content: s)] }
        guard let list = value as? [Any] else { throw ForgeError("\(origin): '\(field)' is neither a string nor a list of messages") }
        return try list.enumerated().map { i, m in
            guard let m = m as? [String: Any], let r = m["role"] as? String, let c = m["content"] as? String else {
                throw ForgeError("\(origin): '\(field)' message \(i) lacks a string 'role' or 'content'")
            }
            return ChatMessage(role: r, content: c)
        }
    }

    static func pair(_ object: [String: Any], origin: String) throws -> PreferencePair {
        var chosen = try messages(object["chosen"], role: "assistant", field: "chosen", origin: origin)
        var rejected = try messages(object["rejected"], role: "assistant", field: "rejected", origin: origin)
        var prompt: [ChatMessage]
        if object["prompt"] != nil {
            prompt = try messages(object["prompt"], role: "user", field: "prompt", origin: origin)
        } else {
            var n = 0
            while n < min(chosen.count, rejected.count) - 1, chosen[n] == rejected[n] { n += 1 }
            prompt = Array(chosen[..<n])
            chosen.removeFirst(n); rejected.removeFirst(n)
        }
        guard chosen.count == 1, rejected.count == 1, chosen[0].role == "assistant", rejected[0].role == "assistant" else {
            throw ForgeError("\(origin): 'chosen' and 'rejected' must each be one assistant reply")
        }
        guard !chosen[0].content.isEmpty, !rejected[0].content.isEmpty else { throw ForgeError("\(origin): an empty reply") }
        guard !prompt.isEmpty, prompt.last?.role == "user" else { throw ForgeError("\(origin): the prompt must end with a user message") }
        try Conversation(messages: prompt + [chosen[0]], origin: origin).validate()
        return PreferencePair(prompt: prompt, chosen: chosen[0], rejected: rejected[0], origin: origin)
    }
}

extension ChatEncoder {
    /// The tokens of `messages` rendered with the generation prompt (what a model answers from).
    public func encodePrompt(_ messages: [ChatMessage], origin: String) throws -> [Int32] {
        tokenizer.encode(try render(messages, generationPrompt: true, origin: origin), allowSpecial: true, addSpecialTokens: true)
    }

    /// A pair as TRL tokenizes it: the prompt rendered with the generation prompt, each prompt + reply rendered
    /// whole; the replies start where the token sequences part from the prompt's.
    public func encode(_ pair: PreferencePair) throws -> PairExample {
        let prompt = try encodePrompt(pair.prompt, origin: pair.origin)
        let chosen = tokenizer.encode(try render(pair.prompt + [pair.chosen], generationPrompt: false, origin: pair.origin),
                                      allowSpecial: true, addSpecialTokens: true)
        let rejected = tokenizer.encode(try render(pair.prompt + [pair.rejected], generationPrompt: false, origin: pair.origin),
                                        allowSpecial: true, addSpecialTokens: true)
        func common(_ a: [Int32], _ b: [Int32]) -> Int { zip(a, b).prefix { $0 == $1 }.count }
        let n = min(common(prompt, chosen), common(prompt, rejected))
        guard n < chosen.count, n < rejected.count else { throw ForgeError("\(pair.origin): a reply renders to no tokens") }
        return PairExample(prompt: Array(prompt[..<n]), chosen: Array(chosen[n...]), rejected: Array(rejected[n...]), origin: pair.origin)
    }
}
