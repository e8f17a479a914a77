// Embedding: row gather from a V×C table, and its scatter-add backward.
import ForgeCore

public enum Embedding {
    /// out[i] = table[ids[i]] for N ids; ids must be in 0..<V (checked by the caller).
    public static func forward(table: UnsafePointer<Float>, ids: UnsafePointer<Int32>, count: Int, cols: Int, out: UnsafeMutablePointer<Float>) {
        Parallel.forEach(count, grain: 64) { r in
            for i in r { (out + i * cols).update(from: table + Int(ids[i]) * cols, count: cols) }
        }
    }

    /// dtable[ids[i]] += dout[i]. Workers own column blocks and walk ids in order: deterministic.
    public static func backward(dout: UnsafePointer<Float>, ids: UnsafePointer<Int32>, count: Int, cols: Int, dtable: UnsafeMutablePointer<Float>) {
        let blocks = (cols + 15) / 16
        Parallel.forEach(blocks) { r in
            let c0 = r.lowerBound * 16, c1 = min(cols, r.upperBound * 16)
            for i in 0..<count {
                let src = dout + i * cols, dst = dtable + Int(ids[i]) * cols
                var c = c0
                while c + 16 <= c1 { store16(load16(dst, c) + load16(src, c), dst, c); c += 16 }
                while c < c1 { dst[c] += src[c]; c += 1 }
            }
        }
    }
}
