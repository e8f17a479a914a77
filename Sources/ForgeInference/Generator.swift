// Generator: prompt in, streamed text out, with sampling, stop strings, end-of-sequence and limits.
//
// Text is handed out only in whole UTF-8 characters, and held back while it could still be the start
// of a stop string, so a stop string never reaches the caller. A prompt that extends what the session
// already holds (a chat turn) reuses the cached prefix.
import ForgeCore
import ForgeModels
import ForgeTokenizer
import Foundation

/// Limits and stop conditions of one generation.
public struct GenerationSettings: Sendable {
    public var maxTokens = 256
    /// Generation ends before the first of these strings; it is not part of the output.
    public var stop: [String] = []
    public var sampling = SamplingSettings()
    /// Only text of this grammar may be generated (structured output); end tokens only where it may end.
    public var constraint: TokenConstraint?
    public init() {}
}

/// Why a generation ended.
public enum FinishReason: String, Sendable {
    /// An end-of-sequence token or a stop string.
    case stop
    /// max tokens, or the context window is full.
    case length
    /// The caller asked to stop (a callback, or a cancelled scheduler job).
    case cancelled
}

/// What a generation produced, with timings for tokens/s figures.
public struct GenerationResult: Sendable {
    public var text = ""
    public var tokens: [Int32] = []
    public var promptTokens = 0
    /// Prompt tokens that were actually computed (the rest came from the cache).
    public var promptTokensComputed = 0
    public var finishReason = FinishReason.length
    public var prefillSeconds = 0.0
    public var decodeSeconds = 0.0
}

public final class Generator {
    public let session: InferenceSession
    let bytesOf: (Int32) -> [UInt8]
    /// Tokens that end generation (end-of-sequence, end-of-turn).
    public var endTokens: Set<Int32>

    /// `bytesOf` gives the text bytes of a token (empty for control tokens that should not print).
    public init(session: InferenceSession, endTokens: Set<Int32>, bytesOf: @escaping (Int32) -> [UInt8]) {
        self.session = session
        self.endTokens = endTokens
        self.bytesOf = bytesOf
    }

    /// Generates after `prompt`; `onText` receives text as it completes and returns false to stop.
    public func generate(prompt: [Int32], settings: GenerationSettings,
                         onText: (String) -> Bool = { _ in true }) throws -> GenerationResult {
        try settings.sampling.validate()
        guard !prompt.isEmpty else { throw ForgeError("the prompt is empty (no tokens)") }
        guard prompt.count < session.capacity else {
            throw ForgeError("the prompt has \(prompt.count) tokens; the context window holds \(session.capacity)")
        }
        var result = GenerationResult()
        result.promptTokens = prompt.count
        // Reuse the longest cached prefix; at least one token must run to get logits.
        var common = 0
        let cached = session.tokens
        while common < min(cached.count, prompt.count - 1), cached[common] == prompt[common] { common += 1 }
        session.rewind(to: common)
        result.promptTokensComputed = prompt.count - common
        var clock = ContinuousClock.now
        var logits = try session.forward(Array(prompt[common...]), logits: .last)
        result.prefillSeconds = seconds(since: clock)
        clock = .now

        var sampler = Sampler(settings.sampling, constraint: settings.constraint)
        var text = TextStream(stops: settings.stop, bytesOf: bytesOf)
        func emit(_ s: String) -> Bool {
            guard !s.isEmpty else { return true }
            result.text += s
            return onText(s)
        }
        while true {
            if result.tokens.count >= settings.maxTokens { result.finishReason = .length; break }
            let next = sampler.sample(logits, history: session.tokens)
            if endTokens.contains(next) { result.finishReason = .stop; break }
            result.tokens.append(next)
            let ready = text.push(next)
            if text.stopped { _ = emit(ready); result.finishReason = .stop; break }
            if !emit(ready) { result.finishReason = .cancelled; break }
            if session.position >= session.capacity { result.finishReason = .length; break }
            logits = try session.forward([next], logits: .last)
        }
        if result.finishReason != .cancelled { _ = emit(text.finish()) }
        result.decodeSeconds = seconds(since: clock)
        return result
    }

    func seconds(since t: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - t
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
