// Attention: multi-head scaled dot-product attention with causal mask and grouped-query heads.
//
// Shapes (B batch, T time, H query heads, G key/value heads, D head size; H is a multiple of G):
//   q, out: (B·T) × (H·D)     k, v: (B·T) × (G·D)     lse: B × H × T
// Query head h reads key/value head h / (H/G). The T×T score matrix is never stored: queries are
// processed in blocks of 64 rows against only the keys they may see, and the forward keeps just the
// log-sum-exp of each row, from which the backward recomputes the probabilities block by block.
// With document starts (packing), a query also sees no key before its own document's first token.
import ForgeCore
import Foundation

/// Sizes of one attention call.
public struct AttentionShape: Sendable, Equatable {
    public var batch, seq, heads, kvHeads, headDim: Int
    public var causal: Bool
    /// Sliding window: a query at t sees keys t − window < j ≤ t (nil: all earlier keys).
    public var window: Int?
    /// Scale of the scores (default 1/√D).
    public var scale: Float
    /// Packed documents: for each of the B·T rows, the index in its sequence of its document's first token; a query
    /// sees no key before it (nil: every row's document starts at 0).
    public var documentStarts: [Int32]?
    /// Padding: for each of the B sequences, how many keys from its start are real (nil: all T); queries see no key
    /// beyond. BERT's attention mask for right-padded batches.
    public var keyLengths: [Int32]?
    public init(batch: Int, seq: Int, heads: Int, kvHeads: Int, headDim: Int, causal: Bool = true) {
        precondition(heads % kvHeads == 0, "query heads must be a multiple of key/value heads")
        (self.batch, self.seq, self.heads, self.kvHeads, self.headDim, self.causal) = (batch, seq, heads, kvHeads, headDim, causal)
        window = nil
        scale = 1 / Float(headDim).squareRoot()
        documentStarts = nil
        keyLengths = nil
    }
    /// The keys sequence `b` may see.
    func keyLimit(_ b: Int) -> Int { keyLengths.map { Int($0[b]) } ?? seq }
    var qWidth: Int { heads * headDim }
    var kvWidth: Int { kvHeads * headDim }
    var group: Int { heads / kvHeads }
}

public enum Attention {
    static let block = 64

    /// out = softmax(q·kᵀ/√D + mask)·v per head; lse receives each row's log-sum-exp.
    public static func forward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>, shape s: AttentionShape
    ) {
        let (T, D) = (s.seq, s.headDim)
        precondition(s.documentStarts == nil || s.documentStarts!.count == s.batch * T, "attention: document starts do not fit \(s)")
        precondition(s.keyLengths.map { $0.count == s.batch && $0.allSatisfy { 1...Int32(T) ~= $0 } } ?? true,
                     "attention: key lengths must be 1...\(T) for each of \(s.batch) sequences")
        let starts = StartsBuffer(s.documentStarts)
        defer { starts.release() }
        Parallel.forEach(s.batch * s.heads) { tasks in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: block * T)
            defer { scores.deallocate() }
            for task in tasks {
                let b = task / s.heads, h = task % s.heads, g = h / s.group
                let qh = q + b * T * s.qWidth + h * D, oh = out + b * T * s.qWidth + h * D
                let kh = k + b * T * s.kvWidth + g * D, vh = v + b * T * s.kvWidth + g * D
                let lseh = lse + (b * s.heads + h) * T
                var q0 = 0
                while q0 < T {
                    let rows = min(block, T - q0), keys = s.causal ? q0 + rows : T
                    blockProbabilities(q: qh, k: kh, q0: q0, rows: rows, keys: keys, shape: s, starts: starts.row(b * T), keyLimit: s.keyLimit(b),
                                       lse: lseh, computeLSE: true, into: scores)
                    BLAS.sgemm(transA: false, transB: false, m: rows, n: D, k: keys,
                               a: scores, lda: keys, b: vh, ldb: s.kvWidth,
                               beta: 0, c: oh + q0 * s.qWidth, ldc: s.qWidth)
                    q0 += rows
                }
            }
        }
    }

    /// P[rows × keys] = exp(scale·Q[q0 ..< q0+rows]·Kᵀ − lse) with masked keys set to 0, for one head.
    /// The forward computes each row's log-sum-exp into `lse`; the backward passes the saved one.
    static func blockProbabilities(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, q0: Int, rows: Int, keys: Int, shape s: AttentionShape,
        starts: UnsafePointer<Int32>?, keyLimit: Int, lse: UnsafeMutablePointer<Float>, computeLSE: Bool, into p: UnsafeMutablePointer<Float>
    ) {
        BLAS.sgemm(transA: false, transB: true, m: rows, n: keys, k: s.headDim, alpha: s.scale,
                   a: q + q0 * s.qWidth, lda: s.qWidth, b: k, ldb: s.kvWidth, beta: 0, c: p, ldc: keys)
        for i in 0..<rows {
            let row = p + i * keys
            let visible = min(s.causal ? q0 + i + 1 : keys, keyLimit)
            // With a sliding window or packed documents, keys before `first` are masked too.
            var first = s.window.map { max(0, q0 + i + 1 - $0) } ?? 0
            if let starts { first = max(first, Int(starts[q0 + i])) }
            if computeLSE {
                // exp(s − max) / Σ: rounding relative to the probabilities themselves. exp(s − lse) would carry the
                // rounding of lse, an ulp of a number that reaches tens at SmolLM2's attention sinks (~2e-6 relative).
                // The sum runs in 32 lanes (Norms.rowSum), close to a Float64 sum at vector speed.
                let n = visible - first, x = row + first
                let m = Softmax.rowMax(x, n), mb = F16x(repeating: m)
                map16(n, x, x) { vexp($0 - mb) }
                let total = Norms.rowSum(x, n)
                let inv = F16x(repeating: 1 / total)
                map16(n, x, x) { $0 * inv }
                lse[q0 + i] = m + log(total)
            } else {
                let lv = F16x(repeating: lse[q0 + i])
                map16(visible - first, row + first, row + first) { vexp($0 - lv) }
            }
            if first > 0 { row.initialize(repeating: 0, count: first) }
            if visible < keys { (row + visible).initialize(repeating: 0, count: keys - visible) }
        }
    }

    /// Gradients of the forward with respect to q, k and v (each optional, each added or written).
    public static func backward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafePointer<Float>, lse: UnsafePointer<Float>, dout: UnsafePointer<Float>,
        dq: UnsafeMutablePointer<Float>, accumulateQ: Bool,
        dk: UnsafeMutablePointer<Float>, accumulateK: Bool,
        dv: UnsafeMutablePointer<Float>, accumulateV: Bool,
        shape s: AttentionShape
    ) {
        let (T, D) = (s.seq, s.headDim)
        let starts = StartsBuffer(s.documentStarts)
        defer { starts.release() }
        Parallel.forEach(s.batch * s.kvHeads) { tasks in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: block * T)
            let dp = UnsafeMutablePointer<Float>.allocate(capacity: block * T)
            let delta = UnsafeMutablePointer<Float>.allocate(capacity: T)
            defer { p.deallocate(); dp.deallocate(); delta.deallocate() }
            for task in tasks {
                let b = task / s.kvHeads, g = task % s.kvHeads
                let kh = k + b * T * s.kvWidth + g * D, vh = v + b * T * s.kvWidth + g * D
                let dkh = dk + b * T * s.kvWidth + g * D, dvh = dv + b * T * s.kvWidth + g * D
                for t in 0..<T {
                    if !accumulateK { (dkh + t * s.kvWidth).initialize(repeating: 0, count: D) }
                    if !accumulateV { (dvh + t * s.kvWidth).initialize(repeating: 0, count: D) }
                }
                for h in (g * s.group)..<((g + 1) * s.group) {
                    let off = b * T * s.qWidth + h * D
                    let qh = q + off, oh = out + off, doh = dout + off, dqh = dq + off
                    let lseh = lse + (b * s.heads + h) * T
                    for t in 0..<T {  // delta_t = Σ_d dO·O
                        var acc = F16x(), i = 0
                        let o = oh + t * s.qWidth, d = doh + t * s.qWidth
                        while i + 16 <= D { acc.addProduct(load16(o, i), load16(d, i)); i += 16 }
                        var sum = hsum(acc)
                        while i < D { sum += o[i] * d[i]; i += 1 }
                        delta[t] = sum
                    }
                    var q0 = 0
                    while q0 < T {
                        let rows = min(block, T - q0), keys = s.causal ? q0 + rows : T
                        blockProbabilities(q: qh, k: kh, q0: q0, rows: rows, keys: keys, shape: s, starts: starts.row(b * T), keyLimit: s.keyLimit(b),
                                           lse: UnsafeMutablePointer(mutating: lseh), computeLSE: false, into: p)
                        // dV += Pᵀ·dO
                        BLAS.sgemm(transA: true, transB: false, m: keys, n: D, k: rows,
                                   a: p, lda: keys, b: doh + q0 * s.qWidth, ldb: s.qWidth,
                                   beta: 1, c: dvh, ldc: s.kvWidth)
                        // dP = dO·Vᵀ;  dS = P ⊙ (dP − delta)
                        BLAS.sgemm(transA: false, transB: true, m: rows, n: keys, k: D,
                                   a: doh + q0 * s.qWidth, lda: s.qWidth, b: vh, ldb: s.kvWidth,
                                   beta: 0, c: dp, ldc: keys)
                        for i in 0..<rows {
                            let pr = p + i * keys, dr = dp + i * keys
                            let dv = F16x(repeating: delta[q0 + i])
                            var j = 0
                            while j + 16 <= keys { store16(load16(pr, j) * (load16(dr, j) - dv), dr, j); j += 16 }
                            while j < keys { dr[j] = pr[j] * (dr[j] - delta[q0 + i]); j += 1 }
                        }
                        // dQ (+)= scale·dS·K;  dK += scale·dSᵀ·Q
                        BLAS.sgemm(transA: false, transB: false, m: rows, n: D, k: keys, alpha: s.scale,
                                   a: dp, lda: keys, b: kh, ldb: s.kvWidth,
                                   beta: accumulateQ ? 1 : 0, c: dqh + q0 * s.qWidth, ldc: s.qWidth)
                        BLAS.sgemm(transA: true, transB: false, m: keys, n: D, k: rows, alpha: s.scale,
                                   a: dp, lda: keys, b: qh + q0 * s.qWidth, ldb: s.qWidth,
                                   beta: 1, c: dkh, ldc: s.kvWidth)
                        q0 += rows
                    }
                }
            }
        }
    }
}

/// The document starts of a call as a plain buffer the parallel tasks read (nil when there are none).
struct StartsBuffer: @unchecked Sendable {
    let base: UnsafeMutablePointer<Int32>?
    init(_ starts: [Int32]?) {
        guard let starts else { base = nil; return }
        let p = UnsafeMutablePointer<Int32>.allocate(capacity: starts.count)
        p.initialize(from: starts, count: starts.count)
        base = p
    }
    /// The starts of the sequence whose first row is `row`.
    func row(_ row: Int) -> UnsafePointer<Int32>? { base.map { UnsafePointer($0 + row) } }
    func release() { base?.deallocate() }
}
