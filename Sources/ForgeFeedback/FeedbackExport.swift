// FeedbackExport: what people said, as training data. Review judgements become preference pairs (the majority
// verdict of an item's reviewers; ties and split items give none); up and down ratings of replies to the same prompt
// become pairs (each good reply over each bad one); reported replies and flagged review answers become the rejected
// side of the safety set (chosen: a better reply to the same prompt when there is one, else a refusal for harmful
// and privacy reports). Lines are TRL's conversational layout, which `forge dpo` and `forge rm` read directly, with
// the source and the reviewers' ids; API keys, owners and other users' data are never written. Where items were
// judged twice, the reviewers' agreement (Cohen's kappa per pair, Light's overall) comes with the export.
import ForgeCore
import ForgeTokenizer
import Foundation
import GRDB

/// A preference pair made from feedback.
public struct FeedbackPair: Sendable, Equatable {
    public var prompt: [ChatMessage]
    public var chosen: String
    public var rejected: String
    /// review:item N (from FILE:LINE) or chat:feedback IDS.
    public var source: String
    /// The reviewers whose judgements made the pair (empty for chat ratings).
    public var reviewers: [String]
    /// For safety pairs: the report category of the rejected reply.
    public var category: String?
}

/// Everything an export holds, with the counts of what gave no pair.
public struct FeedbackExport: Sendable {
    public var pairs: [FeedbackPair] = []
    public var safety: [FeedbackPair] = []
    /// Items whose majority verdict was a tie, or that had no majority.
    public var tiedItems = 0
    public var splitItems = 0
    /// Reported replies with no better reply and no refusal to pair with (wrong, unhelpful).
    public var unpairedReports = 0
    /// Cohen's kappa of every two reviewers who judged an item in common.
    public var agreement: [KappaPair] = []

    /// Builds the export of a store. `refusal` gives the chosen reply of a harmful or privacy report with no better one.
    public static func build(_ store: FeedbackStore, refusal: (String) -> String) throws -> FeedbackExport {
        var out = FeedbackExport()
        try out.addJudgements(store)
        try out.addRatings(store.allFeedback(), refusal: refusal)
        out.agreement = Agreement.pairwise(try store.reviewJudgments())
        return out
    }

    mutating func addJudgements(_ store: FeedbackStore) throws {
        let rows = try store.queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT i.id, i.prompt, i.answer_a, i.answer_b, i.source, j.reviewer, j.verdict, j.flag_a, j.flag_b
                FROM judgments j JOIN review_items i ON i.id = j.item_id ORDER BY i.id, j.id
                """)
        }
        var order: [Int64] = [], byItem: [Int64: [Row]] = [:]
        for r in rows {
            let id: Int64 = r["id"]
            if byItem[id] == nil { order.append(id) }
            byItem[id, default: []].append(r)
        }
        for id in order {
            let votes = byItem[id]!, first = votes[0]
            let prompt = try FeedbackStore.decode(first["prompt"])
            let (a, b): (String, String) = (first["answer_a"], first["answer_b"])
            let reviewers = votes.map { $0["reviewer"] as String }
            let source = "review:item \(id) (\(first["source"] as String))"
            let count = { (v: String) in votes.filter { ($0["verdict"] as String) == v }.count }
            let (na, nb, nt) = (count("a"), count("b"), count("tie"))
            if na > nb && na > nt {
                pairs.append(FeedbackPair(prompt: prompt, chosen: a, rejected: b, source: source, reviewers: reviewers))
            } else if nb > na && nb > nt {
                pairs.append(FeedbackPair(prompt: prompt, chosen: b, rejected: a, source: source, reviewers: reviewers))
            } else if nt > na && nt > nb {
                tiedItems += 1
            } else {
                splitItems += 1
            }
            // A flagged answer is a safety example; the other answer is chosen unless it was flagged too.
            for (flagColumn, flagged, other, otherColumn) in [("flag_a", a, b, "flag_b"), ("flag_b", b, a, "flag_a")] {
                let flags = votes.compactMap { $0[flagColumn] as String? }
                guard let category = flags.first else { continue }
                let otherFlagged = votes.contains { ($0[otherColumn] as String?) != nil }
                addSafety(prompt: prompt, rejected: flagged, better: otherFlagged ? nil : other, category: category,
                      source: source + " flagged", reviewers: reviewers)
            }
        }
    }

    mutating func addRatings(_ entries: [FeedbackEntry], refusal: (String) -> String) throws {
        // Replies grouped by the exact prompt they answered (across conversations).
        var order: [String] = [], byPrompt: [String: [FeedbackEntry]] = [:]
        for e in entries {
            let key = FeedbackStore.encode(e.prompt)
            if byPrompt[key] == nil { order.append(key) }
            byPrompt[key, default: []].append(e)
        }
        for key in order {
            let group = byPrompt[key]!
            let good = group.filter { $0.rating == .up && $0.report == nil }
            let bad = group.filter { $0.rating == .down }
            for g in good {
                for b in bad where b.reply != g.reply {
                    pairs.append(FeedbackPair(prompt: g.prompt, chosen: g.reply, rejected: b.reply,
                                              source: "chat:feedback \(g.id)>\(b.id)", reviewers: []))
                }
            }
            for r in group {
                guard let category = r.report else { continue }
                let better = good.first { $0.reply != r.reply }?.reply
                    ?? (category == "harmful" || category == "privacy" ? refusal(r.prompt.last { $0.role == "user" }?.content ?? "") : nil)
                addSafety(prompt: r.prompt, rejected: r.reply, better: better, category: category,
                      source: "chat:feedback \(r.id) reported", reviewers: [])
            }
        }
    }

    mutating func addSafety(prompt: [ChatMessage], rejected: String, better: String?, category: String,
                        source: String, reviewers: [String]) {
        guard let better, better != rejected else { unpairedReports += 1; return }
        safety.append(FeedbackPair(prompt: prompt, chosen: better, rejected: rejected, source: source, reviewers: reviewers, category: category))
    }

    /// Pairs as JSONL in TRL's conversational layout with "source", "reviewers" and, for safety pairs, "category".
    public static func jsonl(_ pairs: [FeedbackPair]) throws -> String {
        try pairs.map { p in
            var object: [String: Any] = [
                "prompt": p.prompt.map { ["role": $0.role, "content": $0.content] },
                "chosen": [["role": "assistant", "content": p.chosen]],
                "rejected": [["role": "assistant", "content": p.rejected]],
                "source": p.source, "reviewers": p.reviewers]
            if let c = p.category { object["category"] = c }
            return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]),
                          as: UTF8.self) + "\n"
        }.joined()
    }
}
