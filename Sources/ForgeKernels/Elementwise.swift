// Elementwise: add, multiply, scale and accumulate over flat Float32 buffers (memory-bound, SIMD16).
import ForgeCore

/// Flat elementwise kernels; `accumulate` means the output is added to instead of overwritten.
public enum Elementwise {
    /// out = a + b.
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
        Parallel.forEach(n, grain: 1 << 16) { r in
            var i = r.lowerBound
            while i + 16 <= r.upperBound { store16(load16(a, i) + load16(b, i), out, i); i += 16 }
            while i < r.upperBound { out[i] = a[i] + b[i]; i += 1 }
        }
    }

    /// out (+)= alpha · x.
    public static func scale(_ x: UnsafePointer<Float>, _ alpha: Float, _ out: UnsafeMutablePointer<Float>, _ n: Int, accumulate: Bool) {
        Parallel.forEach(n, grain: 1 << 16) { r in
            var i = r.lowerBound
            let s = F16x(repeating: alpha)
            if accumulate {
                while i + 16 <= r.upperBound { var o = load16(out, i); o.addProduct(load16(x, i), s); store16(o, out, i); i += 16 }
                while i < r.upperBound { out[i] += alpha * x[i]; i += 1 }
            } else {
                while i + 16 <= r.upperBound { store16(load16(x, i) * s, out, i); i += 16 }
                while i < r.upperBound { out[i] = alpha * x[i]; i += 1 }
            }
        }
    }

    /// out (+)= a ⊙ b.
    public static func mul(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int, accumulate: Bool) {
        Parallel.forEach(n, grain: 1 << 16) { r in
            var i = r.lowerBound
            if accumulate {
                while i + 16 <= r.upperBound { var o = load16(out, i); o.addProduct(load16(a, i), load16(b, i)); store16(o, out, i); i += 16 }
                while i < r.upperBound { out[i] += a[i] * b[i]; i += 1 }
            } else {
                while i + 16 <= r.upperBound { store16(load16(a, i) * load16(b, i), out, i); i += 16 }
                while i < r.upperBound { out[i] = a[i] * b[i]; i += 1 }
            }
        }
    }

    /// out (+)= x (a copy, or an add when accumulating).
    public static func copy(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int, accumulate: Bool) {
        if !accumulate { out.update(from: x, count: n); return }
        Parallel.forEach(n, grain: 1 << 16) { r in
            var i = r.lowerBound
            while i + 16 <= r.upperBound { store16(load16(out, i) + load16(x, i), out, i); i += 16 }
            while i < r.upperBound { out[i] += x[i]; i += 1 }
        }
    }

    /// Column sums of a rows×cols matrix, added to (or written into) `out[cols]`.
    /// Deterministic: each worker owns a block of columns and walks rows in order.
    public static func columnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, _ out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let blocks = (cols + 15) / 16
        Parallel.forEach(blocks, grain: 4) { r in
            for blk in r {
                let c0 = blk * 16, w = min(16, cols - c0)
                var acc = accumulate ? (w == 16 ? load16(out, c0) : loadPartial(out, c0, w)) : F16x()
                if w == 16 {
                    for row in 0..<rows { acc += load16(x, row * cols + c0) }
                    store16(acc, out, c0)
                } else {
                    for row in 0..<rows { acc += loadPartial(x, row * cols + c0, w) }
                    storePartial(acc, out, c0, w)
                }
            }
        }
    }
}
