// ArenaStatistics: results of pairwise battles as chatbot arenas report them (LMSYS's notebook). Per model pair:
// wins, ties and losses and a win rate (ties as half) with a 95% Wilson interval. Online Elo (K 4, scale 400, base
// 10, initial 1000, in battle order). Bradley–Terry ratings by maximum likelihood (ties as half a win each, Newton's
// method), on the Elo scale with their mean at 1000 (as LMSYS's unregularised logistic regression leaves them before
// its anchor shift), with percentile intervals from a seeded bootstrap over battles.
import ForgeCore
import Foundation

/// One comparison between two different models.
public struct Battle: Sendable, Equatable {
    public var modelA: String
    public var modelB: String
    public var verdict: ReviewVerdict
    public init(_ modelA: String, _ modelB: String, _ verdict: ReviewVerdict) { (self.modelA, self.modelB, self.verdict) = (modelA, modelB, verdict) }
}

/// The battles of two models, from the first's side (`modelA` sorts before `modelB`).
public struct PairRecord: Sendable, Equatable {
    public var modelA: String
    public var modelB: String
    public var winsA = 0
    public var ties = 0
    public var winsB = 0
    public var games: Int { winsA + ties + winsB }
    /// A's share, ties counted as half.
    public var winRate: Double { (Double(winsA) + 0.5 * Double(ties)) / Double(max(games, 1)) }
    /// The 95% Wilson interval of `winRate`.
    public var interval: (low: Double, high: Double) { ArenaStatistics.wilson(Double(winsA) + 0.5 * Double(ties), of: Double(games)) }
}

/// A rating with its bootstrap interval.
public struct Rating95: Sendable, Equatable {
    public var rating: Double
    public var low: Double
    public var high: Double
}

public enum ArenaStatistics {
    /// The normal quantile of 97.5%.
    public static let z95 = 1.959963984540054

    /// The Wilson score interval of `successes` of `trials` (fractional successes allowed); (0, 1) with no trials.
    public static func wilson(_ successes: Double, of trials: Double, z: Double = z95) -> (low: Double, high: Double) {
        guard trials > 0 else { return (0, 1) }
        let p = successes / trials, z2 = z * z
        let centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
        let half = z / (1 + z2 / trials) * (p * (1 - p) / trials + z2 / (4 * trials * trials)).squareRoot()
        return (max(0, centre - half), min(1, centre + half))
    }

    /// Wins, ties and losses per pair of models, pairs sorted by name.
    public static func pairs(_ battles: [Battle]) -> [PairRecord] {
        var table: [String: PairRecord] = [:]
        for b in battles where b.modelA != b.modelB {
            let flipped = b.modelA > b.modelB
            let (x, y) = flipped ? (b.modelB, b.modelA) : (b.modelA, b.modelB)
            var r = table["\(x)\u{0}\(y)"] ?? PairRecord(modelA: x, modelB: y)
            switch (b.verdict, flipped) {
            case (.tie, _): r.ties += 1
            case (.a, false), (.b, true): r.winsA += 1
            case (.b, false), (.a, true): r.winsB += 1
            }
            table["\(x)\u{0}\(y)"] = r
        }
        return table.values.sorted { ($0.modelA, $0.modelB) < ($1.modelA, $1.modelB) }
    }

    /// LMSYS's online Elo: every battle in order moves both ratings by K times (score - expected score).
    public static func onlineElo(_ battles: [Battle], k: Double = 4, scale: Double = 400, base: Double = 10,
                                 initial: Double = 1000) -> [String: Double] {
        var rating: [String: Double] = [:]
        for b in battles where b.modelA != b.modelB {
            let ra = rating[b.modelA] ?? initial, rb = rating[b.modelB] ?? initial
            let ea = 1 / (1 + pow(base, (rb - ra) / scale)), eb = 1 / (1 + pow(base, (ra - rb) / scale))
            let sa = b.verdict == .a ? 1.0 : b.verdict == .b ? 0 : 0.5
            rating[b.modelA] = ra + k * (sa - ea)
            rating[b.modelB] = rb + k * (1 - sa - eb)
        }
        return rating
    }

    /// Bradley–Terry ratings by maximum likelihood, `scale`·log_base(strength) with mean `initial`; nil when the
    /// maximum does not exist (some group of models won, or lost, every battle against the rest).
    public static func bradleyTerry(_ battles: [Battle], scale: Double = 400, base: Double = 10, initial: Double = 1000) -> [String: Double]? {
        let models = Array(Set(battles.filter { $0.modelA != $0.modelB }.flatMap { [$0.modelA, $0.modelB] })).sorted()
        let p = models.count
        guard p >= 2 else { return p == 0 ? [:] : nil }
        let index = Dictionary(uniqueKeysWithValues: models.enumerated().map { ($1, $0) })
        // score[i][j]: i's wins over j plus half their ties; games[i][j]: their battles.
        var score = [[Double]](repeating: [Double](repeating: 0, count: p), count: p), games = score
        for b in battles where b.modelA != b.modelB {
            let i = index[b.modelA]!, j = index[b.modelB]!
            let s = b.verdict == .a ? 1.0 : b.verdict == .b ? 0 : 0.5
            score[i][j] += s
            score[j][i] += 1 - s
            games[i][j] += 1
            games[j][i] += 1
        }
        guard stronglyConnected(score) else { return nil }
        func logLikelihood(_ t: [Double]) -> Double {
            var l = 0.0
            for i in 0..<p { for j in 0..<p where score[i][j] > 0 { l -= score[i][j] * log1p(exp(t[j] - t[i])) } }
            return l
        }
        var theta = [Double](repeating: 0, count: p)
        for _ in 0..<100 {
            var gradient = [Double](repeating: 0, count: p)
            // The information matrix (a weighted graph Laplacian) plus the all-ones matrix, which fixes the mean.
            var m = [[Double]](repeating: [Double](repeating: 1, count: p), count: p)
            for i in 0..<p {
                for j in 0..<p where i != j && games[i][j] > 0 {
                    let s = 1 / (1 + exp(theta[j] - theta[i]))
                    gradient[i] += score[i][j] - games[i][j] * s
                    let w = games[i][j] * s * (1 - s)
                    m[i][i] += w
                    m[i][j] -= w
                }
            }
            guard let step = solve(m, gradient) else { return nil }
            var t = 1.0, next = theta
            let before = logLikelihood(theta)
            repeat {
                next = zip(theta, step).map { $0 + t * $1 }
                t /= 2
            } while logLikelihood(next) < before - 1e-12 && t > 1e-10
            let moved = zip(next, theta).map { abs($0 - $1) }.max() ?? 0
            theta = next
            if moved < 1e-12 { break }
        }
        let mean = theta.reduce(0, +) / Double(p)
        return Dictionary(uniqueKeysWithValues: models.indices.map { (models[$0], scale / log(base) * (theta[$0] - mean) + initial) })
    }

    /// Ratings with 95% percentile intervals over `rounds` resamples of the battles (with replacement, seeded);
    /// resamples where the rating is undefined are left out. Also returns how many resamples counted.
    public static func bootstrap(_ battles: [Battle], rounds: Int = 200, seed: UInt64 = 42,
                                 rating: ([Battle]) -> [String: Double]?) -> (ratings: [String: Rating95], rounds: Int)? {
        guard let point = rating(battles) else { return nil }
        var rng = RNG(seed: seed)
        var samples: [String: [Double]] = [:], used = 0
        for _ in 0..<rounds {
            let resample = (0..<battles.count).map { _ in battles[rng.below(battles.count)] }
            guard let r = rating(resample) else { continue }
            used += 1
            for (model, value) in r { samples[model, default: []].append(value) }
        }
        var out: [String: Rating95] = [:]
        for (model, value) in point {
            let s = (samples[model] ?? []).sorted()
            out[model] = Rating95(rating: value, low: quantile(s, 0.025) ?? value, high: quantile(s, 0.975) ?? value)
        }
        return (out, used)
    }

    /// numpy's default (linear) quantile of sorted values.
    static func quantile(_ sorted: [Double], _ q: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let h = Double(sorted.count - 1) * q, lo = Int(h.rounded(.down))
        return lo + 1 < sorted.count ? sorted[lo] + (h - Double(lo)) * (sorted[lo + 1] - sorted[lo]) : sorted[lo]
    }

    /// Whether every model reaches every other along "scored against" edges: the condition for the maximum to exist.
    static func stronglyConnected(_ score: [[Double]]) -> Bool {
        let p = score.count
        func reach(_ edge: (Int, Int) -> Bool) -> Int {
            var seen = [true] + [Bool](repeating: false, count: p - 1), stack = [0]
            while let i = stack.popLast() {
                for j in 0..<p where !seen[j] && edge(i, j) { seen[j] = true; stack.append(j) }
            }
            return seen.filter { $0 }.count
        }
        return reach { score[$0][$1] > 0 } == p && reach { score[$1][$0] > 0 } == p
    }

    /// Solves m·x = b by Gaussian elimination with partial pivoting; nil when m is singular.
    static func solve(_ m: [[Double]], _ b: [Double]) -> [Double]? {
        var a = m, x = b
        let n = b.count
        for c in 0..<n {
            guard let pivot = (c..<n).max(by: { abs(a[$0][c]) < abs(a[$1][c]) }), abs(a[pivot][c]) > 1e-300 else { return nil }
            a.swapAt(c, pivot)
            x.swapAt(c, pivot)
            for r in (c + 1)..<n {
                let f = a[r][c] / a[c][c]
                guard f != 0 else { continue }
                for k in c..<n { a[r][k] -= f * a[c][k] }
                x[r] -= f * x[c]
            }
        }
        for c in stride(from: n - 1, through: 0, by: -1) {
            x[c] = (x[c] - ((c + 1)..<n).reduce(0) { $0 + a[c][$1] * x[$1] }) / a[c][c]
        }
        return x
    }
}
