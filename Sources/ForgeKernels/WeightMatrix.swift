// WeightMatrix: a row-major weight matrix stored in any supported GGML type, and its products.
//
// One token (decode): each row is dotted with the activations straight from its quantized blocks.
// Several tokens (prefill): each worker decodes a strip of rows into a small Float32 buffer and
// multiplies it with all tokens by SGEMM, so the whole model is never held in Float32.
import ForgeCore

/// A view of `rows × cols` weights in `type`, over memory kept alive by the owner (a mapped GGUF, a tensor).
public struct WeightMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let base: UnsafeRawPointer

    public init(type: GGMLType, rows: Int, cols: Int, base: UnsafeRawPointer) {
        precondition(QuantBlocks.isSupported(type), "unsupported weight type \(type)")
        precondition(cols % type.block.elements == 0, "\(cols) columns is not a whole number of \(type) blocks")
        self.type = type
        self.rows = rows
        self.cols = cols
        self.base = base
    }

    /// Bytes of one stored row.
    public var rowBytes: Int { cols / type.block.elements * type.block.bytes }

    /// The stored bytes of row `r`.
    @inline(__always) public func row(_ r: Int) -> UnsafeRawPointer { base + r * rowBytes }

    /// Decodes row `r` into `out[cols]`.
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        QuantBlocks.dequantize(type, row(r), out, count: cols)
    }

    /// Rows per strip in the prefill path.
    static let strip = 64

    /// y[t·ldy + r] = W[r]·x[t·cols ..] for every token t < `tokens` and row r, threaded over rows.
    public func multiply(_ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil) {
        WeightMatrix.multiply([(self, y)], x, tokens: tokens, ldy: ldy.map { [$0] })
    }

    /// Several matrices with the same input width applied to the same x in one parallel pass
    /// (for example Q, K and V, or gate and up), so a token pays one thread hand-off, not three.
    public static func multiply(_ parts: [(WeightMatrix, UnsafeMutablePointer<Float>)], _ x: UnsafePointer<Float>,
                                tokens: Int, ldy: [Int]? = nil) {
        guard let first = parts.first else { return }
        let cols = first.0.cols
        precondition(parts.allSatisfy { $0.0.cols == cols }, "multiply: matrices differ in width")
        let lds = ldy ?? parts.map { $0.0.rows }
        // Global row space: part p covers rows starts[p] ..< starts[p+1].
        var starts = [0]
        for (m, _) in parts { starts.append(starts.last! + m.rows) }
        let total = starts.last!
        if tokens < 4 {
            let needsSums = parts.contains { $0.0.type == .q4_0 || $0.0.type == .q4_1 }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, tokens * cols / 32)) { sumsBuf in
                let sums = sumsBuf.baseAddress!
                if needsSums { for t in 0..<tokens { QuantDot.blockSums(x + t * cols, cols, into: sums + t * (cols / 32)) } }
                // Work in groups of 4 rows (row counts here are multiples of 4 in practice; the rest go one by one).
                let groups = max(1, total / 4)
                WorkerPool.shared.forEach(groups, grain: 64) { range in
                    var p = 0
                    var g = range.lowerBound * 4
                    let end = range.upperBound == groups ? total : range.upperBound * 4
                    while g < end {
                        while g >= starts[p + 1] { p += 1 }
                        let (m, out) = parts[p]
                        let r = g - starts[p]
                        if r + 4 <= m.rows && g + 4 <= end {
                            for t in 0..<tokens {
                                let v = QuantDot.dot4(m.type, m.row(r), stride: m.rowBytes, x + t * cols, cols, sums: sums + t * (cols / 32))
                                let o = out + t * lds[p] + r
                                o[0] = v[0]; o[1] = v[1]; o[2] = v[2]; o[3] = v[3]
                            }
                            g += 4
                        } else {
                            for t in 0..<tokens {
                                out[t * lds[p] + r] = QuantDot.dot(m.type, m.row(r), x + t * cols, cols, sums: sums + t * (cols / 32))
                            }
                            g += 1
                        }
                    }
                }
            }
            return
        }
        // Prefill: strips of rows, each decoded once and multiplied with all tokens.
        let strips = parts.indices.flatMap { p in stride(from: 0, to: parts[p].0.rows, by: strip).map { (p, $0) } }
        WorkerPool.shared.forEach(strips.count) { range in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: strip * cols)
            defer { buffer.deallocate() }
            for s in range {
                let (p, r0) = strips[s]
                let (m, out) = parts[p]
                let n = min(strip, m.rows - r0)
                if m.type == .f32 {
                    BLAS.sgemm(transA: false, transB: true, m: tokens, n: n, k: cols, a: x, lda: cols,
                               b: m.row(r0).assumingMemoryBound(to: Float.self), ldb: cols, beta: 0, c: out + r0, ldc: lds[p])
                } else {
                    QuantBlocks.dequantize(m.type, m.row(r0), buffer, count: n * cols)
                    BLAS.sgemm(transA: false, transB: true, m: tokens, n: n, k: cols, a: x, lda: cols,
                               b: buffer, ldb: cols, beta: 0, c: out + r0, ldc: lds[p])
                }
            }
        }
    }
}
