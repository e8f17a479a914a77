// --guard POLICY for generate, chat and serve: the guardrails of ForgeSafety, their decisions logged to stderr as JSON
// lines, and their adapter to the server's moderation interface.
import ArgumentParser
import ForgeCore
import ForgeSafety
import ForgeServer
import Foundation

struct GuardOptions: ParsableArguments {
    @Option(name: .customLong("guard"), help: "A guardrail policy file (YAML or JSON): checks on prompts and on replies as they stream.")
    var policy: String?

    /// The guardrails, logging every decision to stderr; nil without --guard.
    func load() throws -> Guardrails? {
        guard let policy else { return nil }
        let g = try Guardrails(policy: try GuardPolicy.load(policy))
        g.log = { d in
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            guard let body = try? enc.encode(d) else { return }
            FileHandle.standardError.write(Data(("{\"event\":\"guard\"," + String(decoding: body.dropFirst(), as: UTF8.self) + "\n").utf8))
        }
        return g
    }
}

/// The guardrails behind the server's moderation: prompts reviewed (blocked or redacted), replies filtered as they stream.
final class GuardModerator: RewritingModerator, @unchecked Sendable {
    let guardrails: Guardrails
    init(_ g: Guardrails) { guardrails = g }

    func check(_ text: String) -> ModerationResult? { review(text).refusal }

    func review(_ text: String) -> (text: String, refusal: ModerationResult?) {
        let v = guardrails.inspect(text, .input)
        if let b = v.blocked { return (text, ModerationResult(category: b.category, reason: "\(b.code): \(b.detail)")) }
        return (v.text, nil)
    }

    func replyFilter() -> any ReplyFilter { GuardReplyFilter(guardrails.stream()) }
}

final class GuardReplyFilter: ReplyFilter {
    let stream: GuardStream
    init(_ s: GuardStream) { stream = s }
    func feed(_ piece: String) -> (shown: String, refusal: ModerationResult?) { (stream.feed(piece), refusal) }
    func finish() -> (shown: String, refusal: ModerationResult?) { (stream.finish(), refusal) }
    var refusal: ModerationResult? { stream.blocked.map { ModerationResult(category: $0.category, reason: "\($0.code): \($0.detail)") } }
}
