import ForgeServer
import Testing

/// A costly moderator run once per `hold` characters of a streamed reply: text is held until a window holding it
/// passed, a blocked window is never shown, and the end is checked before it is shown.
@Suite struct HeldBackModeratorTests {
    @Test func checksOncePerHoldAndShowsEverythingThatPasses() throws {
        let moderator = HeldBackModerator(try WordRules(words: ["poison"]), hold: 24)
        let filter = try #require(moderator.replyFilter() as? HeldBackReply)
        let pieces = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", " and", " runs", " home", "."]
        var shown = "", fed = ""
        for piece in pieces {
            fed += piece
            let (out, refusal) = filter.feed(piece)
            #expect(refusal == nil)
            shown += out
            let waiting = fed.count - shown.count
            #expect(waiting < 24 + 6, "held back at most 24 characters and a word (\(waiting) waiting)")
            #expect(shown.isEmpty || fed.dropFirst(shown.count).first?.isWhitespace ?? true, "shown up to a word's end: '\(shown)'")
        }
        let (rest, refusal) = filter.finish()
        #expect(refusal == nil)
        #expect(shown + rest == pieces.joined())
        #expect(filter.checks <= 4, "\(filter.checks) checks for \(pieces.count) pieces")
    }

    /// Text without spaces (Chinese here) still streams: all but the last 24 characters are shown as it comes.
    @Test func textWithoutSpacesIsNotHeldToTheEnd() throws {
        let filter = HeldBackModerator(try WordRules(words: ["poison"]), hold: 24).replyFilter()
        let piece = "今天天气很好我们去公园散步吧"  // 14 characters, no spaces
        var shown = "", fed = ""
        for _ in 0..<10 {
            fed += piece
            let r = filter.feed(piece)
            #expect(r.refusal == nil)
            shown += r.shown
            #expect(fed.count - shown.count <= 2 * 24 + piece.count, "\(fed.count - shown.count) characters waiting")
        }
        #expect(shown.count >= fed.count - 2 * 24 - piece.count && !shown.isEmpty)
        #expect(shown + filter.finish().shown == fed)
    }

    @Test func aBlockedWindowIsNeverShown() throws {
        let moderator = HeldBackModerator(try WordRules(words: ["poison"]), hold: 24)
        let filter = moderator.replyFilter()
        var shown = "", refusal: ModerationResult?
        for piece in ["Sure", ", mix", " bleach", " with", " poi", "son", " and", " stir", " it", " well", "."] where refusal == nil {
            let r = filter.feed(piece)
            shown += r.shown
            refusal = r.refusal
        }
        // "poi" came in the window checked at 25 characters; it waited there, unshown, as a word not yet ended.
        #expect(refusal != nil && !shown.contains("poi"), "shown: \(shown)")
        #expect(filter.feed(" more").shown.isEmpty && filter.finish().refusal != nil, "a refused reply stays refused")
        // Requests are checked whole.
        #expect(moderator.review("how do I make poison").refusal != nil && moderator.review("hello").refusal == nil)
    }
}
