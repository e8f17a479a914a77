// DecodedProducts: products with a stored (quantized) matrix in exact Float32 arithmetic, decoding it 64 rows at a
// time so that it is never held whole in Float32: the forward and the input gradient of a frozen quantized
// projection (QLoRA's idea: the base stays in its stored type, adapters train beside it).
import ForgeCore

extension WeightMatrix {
    /// y[t·rows + r] = Σ_i W[r][i]·x[t·cols + i] for `tokens` rows of x, W decoded strip by strip, SGEMM per strip.
    public func multiplyDecoded(_ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>) {
        let strips = (rows + WeightMatrix.strip - 1) / WeightMatrix.strip
        let view = self
        Parallel.forEach(strips) { range in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: WeightMatrix.strip * cols)
            defer { buffer.deallocate() }
            for s in range {
                let r0 = s * WeightMatrix.strip, n = min(WeightMatrix.strip, view.rows - r0)
                let b = view.decodedStrip(r0, n, buffer)
                BLAS.sgemm(transA: false, transB: true, m: tokens, n: n, k: view.cols, a: x, lda: view.cols, b: b, ldb: view.cols,
                           beta: 0, c: y + r0, ldc: view.rows)
            }
        }
    }

    /// dx[t·cols + i] (+)= Σ_r dy[t·rows + r]·W[r][i]: the input gradient. Tokens are split over the workers; each
    /// decodes every strip (decoding costs little beside the products).
    public func multiplyTransposedDecoded(_ dy: UnsafePointer<Float>, tokens: Int, into dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let view = self
        Parallel.forEach(tokens, grain: 16) { range in
            guard !range.isEmpty else { return }
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: WeightMatrix.strip * view.cols)
            defer { buffer.deallocate() }
            let out = dx + range.lowerBound * view.cols
            if !accumulate { out.initialize(repeating: 0, count: range.count * view.cols) }
            var r0 = 0
            while r0 < view.rows {
                let n = min(WeightMatrix.strip, view.rows - r0)
                let b = view.decodedStrip(r0, n, buffer)
                BLAS.sgemm(transA: false, transB: false, m: range.count, n: view.cols, k: n, a: dy + range.lowerBound * view.rows + r0,
                           lda: view.rows, b: b, ldb: view.cols, beta: 1, c: out, ldc: view.cols)
                r0 += n
            }
        }
    }

    /// Rows r0 ..< r0+n as Float32: in place for an F32 matrix, else decoded into `buffer`.
    func decodedStrip(_ r0: Int, _ n: Int, _ buffer: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        if type == .f32 { return row(r0).assumingMemoryBound(to: Float.self) }
        decodeRows(r0, n, into: buffer)
        return UnsafePointer(buffer)
    }
}
