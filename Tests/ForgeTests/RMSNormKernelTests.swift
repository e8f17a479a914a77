// LlamaCppMath.rmsNorm, the inference norm: in ggml's order its floats bit for bit, and with the sum of squares in
// lanes (the block-sum product order) within Float32 rounding of a Float64 norm.
import ForgeCore
import ForgeKernels
import Testing

@Suite struct RMSNormKernelTests {
    /// Widths with and without a tail past the 16-lane steps (576: SmolLM2, 640: Gemma 3, 64: a per-head norm), one row
    /// and rows enough to be split over the threads, values from tiny to large.
    @Test(arguments: [576, 640, 64, 37, 7])
    func rmsNormMatchesGGMLAndFloat64(cols: Int) {
        var rng = RNG(seed: UInt64(cols))
        let eps: Float = 1e-5
        for rows in [1, 9] {
            let x = (0..<(rows * cols)).map { i in Float(rng.normal()) * (i % 3 == 0 ? 40 : 1) * (i % 7 == 0 ? 1e-3 : 1) }
            let w = (0..<cols).map { _ in Float(rng.normal()) }
            var inOrder = [Float](repeating: .nan, count: rows * cols), lanes = inOrder
            x.withUnsafeBufferPointer { xb in w.withUnsafeBufferPointer { wb in
                inOrder.withUnsafeMutableBufferPointer {
                    LlamaCppMath.rmsNorm(xb.baseAddress!, weight: wb.baseAddress!, $0.baseAddress!, rows: rows, cols: cols, eps: eps)
                }
                lanes.withUnsafeMutableBufferPointer {
                    LlamaCppMath.rmsNorm(xb.baseAddress!, weight: wb.baseAddress!, $0.baseAddress!, rows: rows, cols: cols, eps: eps,
                                         inOrder: false)
                }
            } }
            for r in 0..<rows {
                let row = x[(r * cols)..<((r + 1) * cols)]
                // ggml_compute_forward_rms_norm_f32 then ggml_mul: Σ (double)(x·x) in order, scale in float, (x·scale)·w.
                var sum = 0.0
                for v in row { sum += Double(v * v) }
                let scale = 1 / (Float(sum / Double(cols)) + eps).squareRoot()
                let ggml = row.enumerated().map { i, v in v * scale * w[i] }
                #expect(Array(inOrder[(r * cols)..<((r + 1) * cols)]) == ggml, "\(cols) columns, row \(r) of \(rows): ggml's floats")
                let exact = 1 / (row.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(cols) + Double(eps)).squareRoot()
                for (i, v) in row.enumerated() {
                    let want = Double(v) * exact * Double(w[i]), got = Double(lanes[r * cols + i])
                    #expect(abs(got - want) <= 4e-7 * abs(want) + 1e-30, "\(cols) columns, row \(r), column \(i): \(got) against \(want)")
                }
            }
        }
    }
}
