// K-quant long batches (KQuantGEMM tiles of 4 tokens through `WeightMatrix.multiply(path: .long)`): against a Float64
// reference from the block definitions and ggml's Q8_K rounding of the activations, and bit for bit against the
// per-token path that gives llama.cpp's floats.
import ForgeCore
import ForgeKernels
import Testing

@Suite struct KQuantGEMMTests {
    /// Random blocks of `type` for `rows × cols`, packed when the type and rows allow, and `tokens` random activations
    /// (one value in 20 twenty times larger, so blocks have outliers).
    static func fixture(_ type: GGMLType, rows: Int, cols: Int, tokens: Int, seed: UInt64) -> (bytes: [UInt8], x: [Float]) {
        var rng = RNG(seed: seed)
        let bytes = randomBlocks(type, elements: rows * cols, &rng)
        let x = (0..<(cols * tokens)).map { _ in Float(rng.normal()) * (rng.uniform() < 0.05 ? 20 : 1) }
        return (bytes, x)
    }

    /// y = W·x for `tokens` tokens through `path`, with `segments` as the engine passes them.
    static func product(_ m: WeightMatrix, _ x: [Float], tokens: Int, path: WeightMatrix.Path, segments: [Int]? = nil) -> [Float] {
        var y = [Float](repeating: 0, count: tokens * m.rows)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { WeightMatrix.multiply([(m, $0.baseAddress!)], xb.baseAddress!, tokens: tokens, path: path, segments: segments) }
        }
        return y
    }

    /// Largest |y − Σ w·x̂| / Σ |w·x̂| over all outputs, with w and x̂ (Q8_K-rounded x) in Float64.
    static func worstError(_ y: [Float], _ w: [Double], _ x: [Float], rows: Int, cols: Int, tokens: Int) -> Double {
        var worst = 0.0
        for t in 0..<tokens {
            let xhat = QuantKernelTests().referenceQ8K(Array(x[(t * cols)..<((t + 1) * cols)]))
            for r in 0..<rows {
                var sum = 0.0, magnitude = 0.0
                for c in 0..<cols {
                    sum += w[r * cols + c] * xhat[c]
                    magnitude += abs(w[r * cols + c] * xhat[c])
                }
                worst = max(worst, abs(Double(y[t * rows + r]) - sum) / magnitude)
            }
        }
        return worst
    }

    /// Tiles of 8 packed Q4_K rows (72 rows: also 32-row wide tiles with AVX-512 VNNI) and of 4 Q6_K rows (13 and 42
    /// rows leave Q6_K a partial tile of rows; with AVX-512 VNNI 42 is also a 32-row `Q6KWide` strip and 10 rows left,
    /// 64 two whole strips), 1, 5, 64
    /// and 300 tokens (partial tiles of tokens). The bound: the worst errors measured here were 1.08e-7 (Q4_K) and
    /// 1.14e-7 (Q6_K), about two Float32 roundings (d·d_x rounded, integer sums converted and fused per pair or
    /// block, Q4_K's min term subtracted at the end); 2.5e-7 leaves a little room, none for a wrong scale, min,
    /// offset or token (those gave errors of 0.1 and more).
    @Test(arguments: [GGMLType.q4_K, .q6_K])
    func tilesMatchTheFloat64Reference(type: GGMLType) {
        var worst = 0.0
        for rows in type == .q4_K ? [8, 40, 72] : [8, 13, 42, 64] {
            for cols in [256, 512] {
                let (bytes, x) = Self.fixture(type, rows: rows, cols: cols, tokens: 300, seed: UInt64(rows * cols) + UInt64(type.rawValue))
                let w = referenceDequantize(type, bytes)
                bytes.withUnsafeBytes { raw in
                    let m = WeightMatrix(type: type, rows: rows, cols: cols, base: raw.baseAddress!).packedForDecode()
                    #expect(type == .q6_K || m.packedRows == rows)
                    for tokens in [1, 5, 64, 300] {
                        let y = Self.product(m, x, tokens: tokens, path: .long)
                        let e = Self.worstError(y, w, x, rows: rows, cols: cols, tokens: tokens)
                        worst = max(worst, e)
                        #expect(e < 2.5e-7, "\(type) \(rows)×\(cols), \(tokens) tokens: \(e)")
                    }
                }
            }
        }
        print("KQuantGEMM \(type): worst error \(worst)")
    }

    /// The tiles reproduce each token's per-token kernel variant, so the long path gives the short path's floats (which
    /// are llama.cpp's) bit for bit: one long sequence, and sequences of several lengths batched together (tokens in
    /// fours and one by one, Q6_K in both of its orders).
    @Test(arguments: [GGMLType.q4_K, .q6_K])
    func longPathGivesTheShortPathsFloats(type: GGMLType) {
        // Q4_K: 9 packed groups, so each worker's share (of 1 or 2) holds a wide tile of 32 rows where the CPU has them.
        // Q6_K: a 32-row strip (`Q6KWide`, with AVX-512 VNNI) and 10 rows in the stored-row tiles.
        let rows = type == .q4_K ? 72 : 42, cols = 512, tokens = 300
        let (bytes, x) = Self.fixture(type, rows: rows, cols: cols, tokens: tokens, seed: 7 + UInt64(type.rawValue))
        bytes.withUnsafeBytes { raw in
            let m = WeightMatrix(type: type, rows: rows, cols: cols, base: raw.baseAddress!).packedForDecode()
            for segments in [[300], [5, 64, 3, 9, 219], [1, 7, 8, 13, 271]] {
                let long = Self.product(m, x, tokens: tokens, path: .long, segments: segments)
                let short = Self.product(m, x, tokens: tokens, path: .short, segments: segments)
                let worst = zip(long, short).map { abs($0 - $1) }.max()!
                #expect(long == short, "\(type), segments \(segments): largest difference \(worst)")
            }
            // The default path of a long batch is the tiled one.
            #expect(Self.product(m, x, tokens: tokens, path: .auto) == Self.product(m, x, tokens: tokens, path: .short))
        }
    }
}
