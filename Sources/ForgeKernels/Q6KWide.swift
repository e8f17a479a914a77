// Q6KWide: long batches of Q6_K in tiles of 32 rows × 4 tokens with AVX-512 VNNI.
//
// Q6_K keeps its stored layout (the per-token kernels read it in llama.cpp's order). For a long batch, a worker
// decodes 32 rows at a time into a strip of unsigned bytes laid out for byte dot products (per 4-value column, the
// 16 rows of each half side by side: 64 bytes), with the rows' scales as int32 per 16-value group and their d as
// Float32. One vpdpbusd with a token's 4 bytes broadcast then does 64 products, and the strip (10 KiB per block)
// serves every token of the batch from L2. Per row, token and block the integer sum is Σ_g scale_g·(Σ q·x̂ − 32·Σx̂)
// over the 16-value groups, exactly the stored kernel's, so each token's floats are `QuantDotK.q6K(batch: true)`'s:
// Float(sum) · d fused with d_x, block after block.
import CSIMD
import ForgeCore

enum Q6KWide {
    /// Rows per strip and tile.
    static let rows = 32
    /// Bytes of one block of a strip: 64 columns × 2 halves × 64 bytes, then 16 groups × 32 int32 scales, then 32 d.
    static let blockBytes = 64 * 128 + 16 * 32 * 4 + 32 * 4
    static let scalesAt = 64 * 128, dAt = 64 * 128 + 16 * 32 * 4

    /// Decodes 32 stored rows (`stride` bytes apart, `blocks` blocks each) into `strip` (`blocks · blockBytes` bytes).
    static func decode(_ row: UnsafeRawPointer, stride: Int, blocks: Int, into strip: UnsafeMutableRawPointer) {
        for r in 0..<rows {
            let half = r / 16, lane = r % 16
            for b in 0..<blocks {
                let p = row + r * stride + b * 210, s = strip + b * blockBytes
                for j in 0..<2 {
                    let q = QuantDotK.q6KQuants(p, j)
                    @inline(__always) func put(_ t: Int, _ v: SIMD32<UInt8>) {
                        let words = unsafeBitCast(v, to: SIMD8<UInt32>.self)
                        for m in 0..<8 {
                            let k = 32 * j + 8 * t + m
                            s.storeBytes(of: words[m], toByteOffset: (2 * k + half) * 64 + 4 * lane, as: UInt32.self)
                        }
                    }
                    put(0, q.0); put(1, q.1); put(2, q.2); put(3, q.3)
                }
                let scales = p.loadUnaligned(fromByteOffset: 192, as: SIMD16<Int8>.self)
                for g in 0..<16 { s.storeBytes(of: Int32(scales[g]), toByteOffset: scalesAt + (32 * g + r) * 4, as: Int32.self) }
                s.storeBytes(of: QuantBlocks.half(p, 208), toByteOffset: dAt + 4 * r, as: Float.self)
            }
        }
    }

    /// Tokens x[0..<4] against a decoded strip of 32 rows: out[t·ld + i] for row i, each token's floats those of
    /// `QuantDotK.q6K(row, stride:, x[t], rows:, batch: true)`.
    @inline(never)
    static func tile(_ strip: UnsafeRawPointer, blocks: Int, _ x: UnsafePointer<Q8KActivations>, _ out: UnsafeMutablePointer<Float>, ld: Int) {
        let x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3]
        var f0a = SIMD16<Float>(), f0b = f0a, f1a = f0a, f1b = f0a, f2a = f0a, f2b = f0a, f3a = f0a, f3b = f0a
        for b in 0..<blocks {
            let s = strip + b * blockBytes
            let a0 = UnsafeRawPointer(x0.values) + 256 * b, a1 = UnsafeRawPointer(x1.values) + 256 * b
            let a2 = UnsafeRawPointer(x2.values) + 256 * b, a3 = UnsafeRawPointer(x3.values) + 256 * b
            let s0 = x0.sums16 + 16 * b, s1 = x1.sums16 + 16 * b, s2 = x2.sums16 + 16 * b, s3 = x3.sums16 + 16 * b
            var i0a = SIMD16<Int32>(), i0b = i0a, i1a = i0a, i1b = i0a, i2a = i0a, i2b = i0a, i3a = i0a, i3b = i0a
            for g in 0..<16 {
                var c0a = SIMD16<Int32>(), c0b = c0a, c1a = c0a, c1b = c0a, c2a = c0a, c2b = c0a, c3a = c0a, c3b = c0a
                for kk in 0..<4 {
                    let k = 4 * g + kk, at = 4 * k
                    let wa = s.load(fromByteOffset: 128 * k, as: SIMD64<UInt8>.self)
                    let wb = s.load(fromByteOffset: 128 * k + 64, as: SIMD64<UInt8>.self)
                    c0a = forge_dot16_u8s8(c0a, wa, a0 + at); c0b = forge_dot16_u8s8(c0b, wb, a0 + at)
                    c1a = forge_dot16_u8s8(c1a, wa, a1 + at); c1b = forge_dot16_u8s8(c1b, wb, a1 + at)
                    c2a = forge_dot16_u8s8(c2a, wa, a2 + at); c2b = forge_dot16_u8s8(c2b, wb, a2 + at)
                    c3a = forge_dot16_u8s8(c3a, wa, a3 + at); c3b = forge_dot16_u8s8(c3b, wb, a3 + at)
                }
                // The quants are stored as q + 32: (Σ q·x̂ − 32·Σx̂) times the group's scale, per row.
                let sa = s.load(fromByteOffset: scalesAt + 128 * g, as: SIMD16<Int32>.self)
                let sb = s.load(fromByteOffset: scalesAt + 128 * g + 64, as: SIMD16<Int32>.self)
                @inline(__always) func add(_ i: inout SIMD16<Int32>, _ c: SIMD16<Int32>, _ sums: UnsafeMutablePointer<Int32>,
                                           _ scale: SIMD16<Int32>) {
                    i &+= (c &- SIMD16(repeating: sums[g] &<< 5)) &* scale
                }
                add(&i0a, c0a, s0, sa); add(&i0b, c0b, s0, sb); add(&i1a, c1a, s1, sa); add(&i1b, c1b, s1, sb)
                add(&i2a, c2a, s2, sa); add(&i2b, c2b, s2, sb); add(&i3a, c3a, s3, sa); add(&i3b, c3b, s3, sb)
            }
            let da = s.load(fromByteOffset: dAt, as: SIMD16<Float>.self), db = s.load(fromByteOffset: dAt + 64, as: SIMD16<Float>.self)
            @inline(__always) func fuse(_ f: inout SIMD16<Float>, _ i: SIMD16<Int32>, _ d: SIMD16<Float>, _ x: Q8KActivations) {
                f.addProduct(int32ToFloat16(i) * d, SIMD16(repeating: x.scales[b]))
            }
            fuse(&f0a, i0a, da, x0); fuse(&f0b, i0b, db, x0); fuse(&f1a, i1a, da, x1); fuse(&f1b, i1b, db, x1)
            fuse(&f2a, i2a, da, x2); fuse(&f2b, i2b, db, x2); fuse(&f3a, i3a, da, x3); fuse(&f3b, i3b, db, x3)
        }
        @inline(__always) func store(_ t: Int, _ a: SIMD16<Float>, _ b: SIMD16<Float>) {
            UnsafeMutableRawPointer(out + t * ld).storeBytes(of: a, as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(out + t * ld + 16).storeBytes(of: b, as: SIMD16<Float>.self)
        }
        store(0, f0a, f0b); store(1, f1a, f1b); store(2, f2a, f2b); store(3, f3a, f3b)
    }
}
