// HeldBackModerator: a costly moderator (a classifier) run on a streamed reply every `hold` characters instead of
// every token. The reply is held back until `hold` characters are pending; then the recent window (the last 64
// characters shown and everything pending) is checked once and, if it passes, shown up to its last space. No text
// reaches the client before a window holding it was checked, a word is shown only once it is whole, and the end of
// the reply is checked before it is shown.

/// Wraps `base` so that streamed replies are checked once per `hold` characters; requests are checked whole.
public struct HeldBackModerator: RewritingModerator {
    public let base: any Moderator
    public let hold: Int

    public init(_ base: any Moderator, hold: Int = 24) { (self.base, self.hold) = (base, max(1, hold)) }

    public func check(_ text: String) -> ModerationResult? { base.check(text) }
    public func review(_ text: String) -> (text: String, refusal: ModerationResult?) { (text, base.check(text)) }
    public func replyFilter() -> any ReplyFilter { HeldBackReply(base, hold: hold) }
}

/// One streamed reply under a `HeldBackModerator`.
public final class HeldBackReply: ReplyFilter {
    let base: any Moderator
    let hold: Int
    var shown = "", pending = ""
    var refused: ModerationResult?
    /// How many times the moderator ran on this reply.
    public private(set) var checks = 0

    init(_ base: any Moderator, hold: Int) { (self.base, self.hold) = (base, hold) }

    public func feed(_ piece: String) -> (shown: String, refusal: ModerationResult?) {
        guard refused == nil else { return ("", refused) }
        pending += piece
        return pending.count >= hold ? release(final: false) : ("", nil)
    }

    public func finish() -> (shown: String, refusal: ModerationResult?) {
        guard refused == nil else { return ("", refused) }
        return pending.isEmpty ? ("", nil) : release(final: true)
    }

    /// Checks the window; shows what is pending up to its last space (a word still being written waits for its end,
    /// so a word split across two checks is never half shown; text without spaces keeps only `hold` characters back),
    /// or all of it at the end.
    func release(final: Bool) -> (shown: String, refusal: ModerationResult?) {
        var cut = final ? pending.endIndex : (pending.lastIndex(where: \.isWhitespace) ?? pending.startIndex)
        if !final && pending.distance(from: cut, to: pending.endIndex) > 2 * hold {
            // Text without spaces (Chinese, Japanese, a long URL): show all but the last `hold` characters, as the
            // guardrails do, rather than hold the reply back to its end.
            cut = pending.index(pending.endIndex, offsetBy: -hold)
        }
        if cut == pending.startIndex && !final { return ("", nil) }  // nothing could be shown yet: no check
        checks += 1
        if let r = base.check(String(shown.suffix(64)) + pending) {
            refused = r
            return ("", r)
        }
        let out = String(pending[..<cut])
        shown += out
        pending = String(pending[cut...])
        return (out, nil)
    }
}
