// ReviewResults: what the review queue has found, for `forge review results` and GET /v1/review/results. Judgements
// of two different models become battles (per-pair win rates, online Elo, Bradley–Terry with bootstrap intervals);
// judgements of two samples of one model count only towards agreement and flags. As JSON or as text tables.
import Foundation

/// The review queue's results.
public struct ReviewResults: Sendable {
    public var items: Int
    public var judgments: Int
    /// Judgements of two answers of one model (not battles).
    public var sameModel: Int
    public var pairs: [PairRecord]
    public var elo: [String: Double]
    /// Nil when the maximum-likelihood ratings do not exist.
    public var bradleyTerry: [String: Rating95]?
    public var bootstrapRounds: Int
    /// Resamples whose ratings existed (the intervals come from these).
    public var bootstrapUsed: Int
    /// Answers flagged per report category.
    public var flags: [String: Int]
    public var agreement: [KappaPair]
    public var meanKappa: Double?

    public init(items: Int, judgments list: [ReviewJudgment], rounds: Int = 200, seed: UInt64 = 42) {
        let battles = list.filter { $0.item.modelA != $0.item.modelB }.map { Battle($0.item.modelA, $0.item.modelB, $0.verdict) }
        self.items = items
        judgments = list.count
        sameModel = list.count - battles.count
        pairs = ArenaStatistics.pairs(battles)
        elo = ArenaStatistics.onlineElo(battles)
        let bt = ArenaStatistics.bootstrap(battles, rounds: rounds, seed: seed) { ArenaStatistics.bradleyTerry($0) }
        bradleyTerry = bt?.ratings
        bootstrapRounds = rounds
        bootstrapUsed = bt?.rounds ?? 0
        flags = [:]
        for j in list { for f in [j.flagA, j.flagB].compactMap({ $0 }) { flags[f, default: 0] += 1 } }
        agreement = Agreement.pairwise(list)
        meanKappa = Agreement.lightKappa(agreement)
    }

    /// The results as a JSON object.
    public var json: [String: Any] {
        func round(_ x: Double) -> Double { (x * 1e4).rounded() / 1e4 }
        var out: [String: Any] = [
            "items": items, "judgments": judgments, "same_model_judgments": sameModel, "flags": flags,
            "pairs": pairs.map { p -> [String: Any] in
                let (low, high) = p.interval
                return ["model_a": p.modelA, "model_b": p.modelB, "wins_a": p.winsA, "ties": p.ties, "wins_b": p.winsB,
                        "games": p.games, "win_rate_a": round(p.winRate), "ci95": [round(low), round(high)]]
            },
            "elo": elo.mapValues(round),
            "elo_settings": ["k": 4, "scale": 400, "base": 10, "initial": 1000],
            "bradley_terry_settings": ["scale": 400, "base": 10, "mean": 1000, "ties": "half a win each",
                                       "bootstrap_rounds": bootstrapRounds, "bootstrap_rounds_used": bootstrapUsed],
            "agreement": ["pairs": agreement.map { ["reviewer_a": $0.reviewerA, "reviewer_b": $0.reviewerB, "items": $0.items,
                                                     "kappa": $0.kappa.map { round($0) as Any } ?? NSNull()] as [String: Any] },
                          "mean_kappa": meanKappa.map { round($0) as Any } ?? NSNull(), "statistic": "Cohen's kappa; mean over pairs (Light's kappa)"],
        ]
        out["bradley_terry"] = bradleyTerry.map { $0.mapValues { ["rating": round($0.rating), "ci95": [round($0.low), round($0.high)]] } as Any } ?? NSNull()
        return out
    }

    /// The results as text tables.
    public var text: String {
        var lines = ["\(items) items, \(judgments) judgements (\(sameModel) of two answers of one model)", ""]
        if pairs.isEmpty {
            lines.append("No battles between different models yet.")
        } else {
            lines.append("Pair                                      W    T    L   win rate  95% CI")
            for p in pairs {
                let (low, high) = p.interval
                lines.append(Self.pad("\(p.modelA) vs \(p.modelB)", 40) + String(format: " %4d %4d %4d   %6.1f%%  [%.1f%%, %.1f%%]",
                                    p.winsA, p.ties, p.winsB, 100 * p.winRate, 100 * low, 100 * high))
            }
            lines += ["", "Model                           Elo      Bradley–Terry  95% CI"]
            for (model, rating) in elo.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
                let bt = bradleyTerry?[model].map { String(format: "%7.1f        [%.1f, %.1f]", $0.rating, $0.low, $0.high) } ?? "    —  (no maximum: a model won or lost every battle)"
                lines.append(Self.pad(model, 30) + String(format: " %7.1f   ", rating) + bt)
            }
            lines.append("Elo: online, K 4, in judgement order. Bradley–Terry: maximum likelihood, mean 1000, "
                         + "\(bootstrapUsed) of \(bootstrapRounds) bootstrap resamples.")
        }
        lines.append("")
        if agreement.isEmpty {
            lines.append("Agreement: no item judged by two reviewers.")
        } else {
            for k in agreement {
                lines.append("Cohen's kappa \(k.reviewerA) / \(k.reviewerB) over \(k.items) items: " + (k.kappa.map { String(format: "%.3f", $0) } ?? "undefined"))
            }
            if agreement.count > 1 { lines.append("Mean pairwise kappa (Light's): " + (meanKappa.map { String(format: "%.3f", $0) } ?? "undefined")) }
        }
        if !flags.isEmpty { lines.append("Flags: " + flags.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) }
        return lines.joined(separator: "\n") + "\n"
    }

    static func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }
}

extension FeedbackStore {
    /// The results of every judgement so far.
    public func reviewResults(rounds: Int = 200, seed: UInt64 = 42) throws -> ReviewResults {
        ReviewResults(items: try reviewItems().count, judgments: try reviewJudgments(), rounds: rounds, seed: seed)
    }
}
