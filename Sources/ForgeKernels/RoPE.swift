// RoPE: rotary position embedding in the "rotate half" layout of Hugging Face Llama
// (channel i pairs with i + D/2 inside each head).
import ForgeCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Cosine and sine tables for positions 0..<T and D/2 frequencies θ^(−2i/D).
public struct RoPETable: Sendable {
    public let headDim: Int
    public let positions: Int
    public let cos: [Float]
    public let sin: [Float]

    public init(headDim: Int, positions: Int, theta: Double) {
        self.headDim = headDim
        self.positions = positions
        let half = headDim / 2
        var c = [Float](repeating: 0, count: positions * half), s = c
        for p in 0..<positions {
            for i in 0..<half {
                let angle = Double(p) * Foundation.pow(theta, -2 * Double(i) / Double(headDim))
                c[p * half + i] = Float(Foundation.cos(angle))
                s[p * half + i] = Float(Foundation.sin(angle))
            }
        }
        self.cos = c
        self.sin = s
    }
}

public enum RoPE {
    /// Rotates x (rows = B·T, each H heads of D) in place or into `out`; row r has position
    /// `offset + r % seq`. `inverse` rotates backwards (the backward pass of the forward).
    public static func apply(
        _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Int, seq: Int, heads: Int,
        table: RoPETable, offset: Int = 0, positions: UnsafePointer<Int32>? = nil, inverse: Bool = false, accumulate: Bool = false
    ) {
        let d = table.headDim, half = d / 2, width = heads * d
        precondition(positions != nil || offset + seq <= table.positions, "RoPE table too short")
        table.cos.withUnsafeBufferPointer { cosb in
            table.sin.withUnsafeBufferPointer { sinb in
                let cp = cosb.baseAddress!, sp = sinb.baseAddress!
                Parallel.forEach(rows, grain: 16) { r in
                    for row in r {
                        let pos = positions.map { Int($0[row]) } ?? offset + row % seq
                        precondition(pos >= 0 && pos < table.positions, "RoPE position \(pos) outside the table")
                        let c = cp + pos * half, s = sp + pos * half
                        for h in 0..<heads {
                            let xi = x + row * width + h * d, yo = out + row * width + h * d
                            for i in 0..<half {
                                let x1 = xi[i], x2 = xi[i + half]
                                let sn = inverse ? -s[i] : s[i]
                                let y1 = x1 * c[i] - x2 * sn, y2 = x2 * c[i] + x1 * sn
                                if accumulate { yo[i] += y1; yo[i + half] += y2 } else { yo[i] = y1; yo[i + half] = y2 }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Cosines and sines for the rows of one batch, each row at its own position, computed as llama.cpp's CPU
/// backend computes its table (ggml_rope_cache_init): in Float32, each angle the previous one times
/// powf(θ, −2/D), through libm's cosf and sinf. Nothing is sized by the context length.
public struct RoPERows {
    public let half: Int
    public let cos: [Float]
    public let sin: [Float]

    public init(positions: [Int], headDim: Int, theta: Float) {
        half = headDim / 2
        let step = powf(theta, -2 / Float(headDim))
        var c = [Float](repeating: 0, count: positions.count * half), s = c
        for (r, p) in positions.enumerated() {
            var angle = Float(p)
            for i in 0..<half {
                c[r * half + i] = cosf(angle)
                s[r * half + i] = sinf(angle)
                angle *= step
            }
        }
        cos = c
        sin = s
    }
}

extension RoPE {
    /// Rotates rows `rows` of `heads` heads in place with the angles of `table`'s same rows; `adjacent` pairs
    /// channels (2i, 2i+1) (GGUF Llama), otherwise (i, i + D/2). Fused as llama.cpp's build fuses them.
    public static func rotate(_ x: UnsafeMutablePointer<Float>, rows: Range<Int>, heads: Int, table: RoPERows, adjacent: Bool) {
        let half = table.half, d = 2 * half
        table.cos.withUnsafeBufferPointer { cosb in
            table.sin.withUnsafeBufferPointer { sinb in
                for r in rows {
                    let c = cosb.baseAddress! + r * half, s = sinb.baseAddress! + r * half
                    for h in 0..<heads {
                        let v = x + (r * heads + h) * d
                        for i in 0..<half {
                            let (a, b) = adjacent ? (2 * i, 2 * i + 1) : (i, i + half)
                            let x1 = v[a], x2 = v[b]
                            v[a] = (-(x2 * s[i])).addingProduct(x1, c[i])
                            v[b] = (x2 * c[i]).addingProduct(x1, s[i])
                        }
                    }
                }
            }
        }
    }
}
