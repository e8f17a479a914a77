// Sampler: picks the next token from logits.
//
// Order, as llama.cpp's default chain: penalties on recent tokens, then top-k, top-p, min-p on the
// surviving candidates, then temperature and a draw from a seeded generator. Temperature 0 is greedy
// (after penalties). The same seed and inputs give the same tokens.
import ForgeCore
import ForgeModels
import Foundation

/// Every sampling setting, with llama.cpp-like defaults.
public struct SamplingSettings: Sendable, Equatable {
    /// 0 means greedy.
    public var temperature: Float = 0.8
    /// Keep the k most likely tokens (0: all).
    public var topK = 40
    /// Keep the smallest set whose probability reaches p (1: all).
    public var topP: Float = 0.95
    /// Drop tokens below minP × the top probability (0: none).
    public var minP: Float = 0.05
    /// Divides positive logits and multiplies negative ones of recent tokens (1: off).
    public var repetitionPenalty: Float = 1
    /// Subtracts count × this from the logits of recent tokens (OpenAI's frequency_penalty).
    public var frequencyPenalty: Float = 0
    /// Subtracts this once from the logits of every recent token (OpenAI's presence_penalty).
    public var presencePenalty: Float = 0
    /// How many recent tokens the penalties look at (0: none, −1: all).
    public var penaltyWindow = 64
    public var seed: UInt64 = 0

    public init() {}

    /// Greedy decoding: temperature 0, no filters, no penalties.
    public static var greedy: SamplingSettings { var s = SamplingSettings(); s.temperature = 0; return s }

    /// A clear error for out-of-range values.
    public func validate() throws {
        guard temperature >= 0, temperature.isFinite else { throw ForgeError("temperature must be ≥ 0, got \(temperature)") }
        guard topK >= 0 else { throw ForgeError("top-k must be ≥ 0, got \(topK)") }
        guard topP > 0, topP <= 1 else { throw ForgeError("top-p must be in (0, 1], got \(topP)") }
        guard minP >= 0, minP < 1 else { throw ForgeError("min-p must be in [0, 1), got \(minP)") }
        guard repetitionPenalty > 0 else { throw ForgeError("repetition penalty must be > 0, got \(repetitionPenalty)") }
        guard penaltyWindow >= -1 else { throw ForgeError("penalty window must be ≥ −1, got \(penaltyWindow)") }
    }
}

/// A stateful sampler (its random stream advances with every draw; a constrained one follows its grammar).
public struct Sampler {
    public let settings: SamplingSettings
    var rng: RNG
    /// The grammar position of a constrained sequence: tokens it does not allow are masked before every draw.
    public private(set) var constraint: ConstraintState?

    public init(_ settings: SamplingSettings, constraint: TokenConstraint? = nil) {
        self.settings = settings
        rng = RNG(seed: settings.seed)
        self.constraint = constraint.map(ConstraintState.init)
    }

    /// The next token for `logits` given the tokens so far (`history`, for the penalties).
    public mutating func sample(_ logits: [Float], history: [Int32] = []) -> Int32 {
        guard var c = constraint else { return draw(logits, history: history) }
        var l = logits
        let bits = c.apply(to: &l)
        var token = draw(l, history: history)
        func allowed(_ t: Int) -> Bool { t < l.count && bits[t >> 6] & (1 << UInt64(t & 63)) != 0 }
        if !allowed(Int(token)) {
            // Only rounding can draw a masked token: take the best allowed one; with none allowed, end.
            token = l.indices.filter(allowed).max { l[$0] < l[$1] }.map(Int32.init) ?? c.constraint.endTokens.min() ?? token
        }
        _ = c.advance(token)
        constraint = c
        return token
    }

    /// A draw from `logits` after penalties and filters.
    mutating func draw(_ logits: [Float], history: [Int32]) -> Int32 {
        var l = logits
        applyPenalties(&l, history: history)
        if settings.temperature == 0 { return Int32(argmax(l)) }
        let k = settings.topK > 0 ? min(settings.topK, l.count) : l.count
        if k == l.count && settings.topP >= 1 { return drawUnsorted(l) }
        // Candidates sorted by logit, cut by top-k.
        var order = Array(l.indices)
        if k < l.count {
            order = Array(partialTopK(l, k))
        } else {
            order.sort { l[$0] > l[$1] || (l[$0] == l[$1] && $0 < $1) }
        }
        // Probabilities at temperature 1 decide top-p and min-p (as llama.cpp does).
        let m = l[order[0]]
        var p = order.map { Double(exp(l[$0] - m)) }
        let z = p.reduce(0, +)
        p = p.map { $0 / z }
        var keep = p.count
        if settings.topP < 1 {
            var acc = 0.0
            for (i, pi) in p.enumerated() { acc += pi; if acc >= Double(settings.topP) { keep = i + 1; break } }
        }
        if settings.minP > 0 {
            let floor = Double(settings.minP) * p[0]
            keep = min(keep, max(1, p.prefix(keep).firstIndex { $0 < floor } ?? keep))
        }
        order = Array(order.prefix(keep))
        let weights = order.map { exp(Double(l[$0] - m) / Double(settings.temperature)) }
        var u = rng.uniform() * weights.reduce(0, +)
        for (id, w) in zip(order, weights) {
            u -= w
            if u <= 0 { return Int32(id) }
        }
        return Int32(order.last!)
    }

    /// Without top-k and top-p no order is needed: min-p keeps the tokens within ln(minP) of the top logit, and the draw
    /// walks the vocabulary in index order (full-vocabulary sampling, as RL rollouts use, without a sort per token).
    mutating func drawUnsorted(_ l: [Float]) -> Int32 {
        let best = argmax(l)
        let m = l[best]
        let floor: Float = settings.minP > 0 ? log(settings.minP) : -.infinity
        let invT = 1 / Double(settings.temperature)
        var total = 0.0
        for v in l where v - m >= floor { total += exp(Double(v - m) * invT) }
        var u = rng.uniform() * total
        for (i, v) in l.enumerated() where v - m >= floor {
            u -= exp(Double(v - m) * invT)
            if u <= 0 { return Int32(i) }
        }
        return Int32(best)
    }

    func applyPenalties(_ l: inout [Float], history: [Int32]) {
        let s = settings
        guard s.repetitionPenalty != 1 || s.frequencyPenalty != 0 || s.presencePenalty != 0, s.penaltyWindow != 0 else { return }
        let recent = s.penaltyWindow < 0 ? history[...] : history.suffix(s.penaltyWindow)
        var counts: [Int32: Int] = [:]
        for t in recent where t >= 0 && Int(t) < l.count { counts[t, default: 0] += 1 }
        for (t, n) in counts {
            var v = l[Int(t)]
            if s.repetitionPenalty != 1 { v = v > 0 ? v / s.repetitionPenalty : v * s.repetitionPenalty }
            v -= Float(n) * s.frequencyPenalty + s.presencePenalty
            l[Int(t)] = v
        }
    }

    /// The index of the largest logit (the lowest index on ties).
    public static func argmax(_ l: [Float]) -> Int { argmaxOf(l) }

    func argmax(_ l: [Float]) -> Int { argmaxOf(l) }

    /// Indices of the k largest values, largest first.
    func partialTopK(_ l: [Float], _ k: Int) -> [Int] {
        var heap: [Int] = []  // the k best so far, sorted descending
        heap.reserveCapacity(k + 1)
        for i in l.indices {
            if heap.count == k, l[i] <= l[heap[k - 1]] { continue }
            var lo = 0, hi = heap.count
            while lo < hi { let mid = (lo + hi) / 2; if l[heap[mid]] >= l[i] { lo = mid + 1 } else { hi = mid } }
            heap.insert(i, at: lo)
            if heap.count > k { heap.removeLast() }
        }
        return heap
    }
}

/// The first index of the largest value (NaNs never win; 0 when every value is NaN or the array is empty).
/// Vectorized: the maximum over 16-lane strides, then the first lane that holds it (a vocabulary-sized scan a token).
func argmaxOf(_ l: [Float]) -> Int {
    l.withUnsafeBufferPointer { b in
        let n = b.count
        guard let p = b.baseAddress, n > 0 else { return 0 }
        var mv = SIMD16<Float>(repeating: -.infinity)
        var i = 0
        while i + 16 <= n {
            let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
            mv = mv.replacing(with: v, where: v .> mv)
            i += 16
        }
        var m = mv.max()
        while i < n { if p[i] > m { m = p[i] }; i += 1 }
        if !(m > -.infinity) { return (0..<n).first { p[$0] == m } ?? 0 }
        var j = 0
        while j + 16 <= n {
            if any(UnsafeRawPointer(p + j).loadUnaligned(as: SIMD16<Float>.self) .== SIMD16(repeating: m)) { break }
            j += 16
        }
        while p[j] != m { j += 1 }
        return j
    }
}
