// PackedRows: Q4_0/Q4_1/Q8_0 matrices re-laid out in groups of eight rows, for the decode kernels.
//
// Per group of 8 rows and per 32-value block: the 8 rows' scales d (f16), for Q4_1 their 8 minimums m,
// then the quants as 32-byte vectors whose 4-byte lane r holds row r's bytes 4j..4j+3 (vector j). One byte
// dot product of vector j with activation bytes 4j..4j+3 broadcast to every lane then gives lane j of all 8
// rows at once, and one d·d_x vector scales them: no per-row broadcasts, conversions or horizontal sums.
// The bytes are the file's, moved (like llama.cpp's CPU "repack" buffers); groups are contiguous, so each
// worker streams one run of memory. Rows past the last whole group stay in the stored layout.
import ForgeCore

/// Memory holding a packed copy of a matrix (kept alive by the `WeightMatrix` values that use it).
final class PackedStorage: @unchecked Sendable {
    let bytes: UnsafeMutableRawPointer
    init(byteCount: Int) { bytes = .allocate(byteCount: byteCount, alignment: 64) }
    deinit { bytes.deallocate() }
}

extension WeightMatrix {
    /// Rows per packed group.
    public static let packGroup = 8

    /// True for the types with a packed layout (those with integer kernels).
    public static func packs(_ type: GGMLType) -> Bool { QuantDotQ8.supports(type) }

    /// Bytes of one block of one packed group (8 stored blocks, rearranged).
    static func packedBlockBytes(_ type: GGMLType) -> Int { packGroup * type.block.bytes }

    /// Rows held in packed groups (0 when not packed).
    public var packedRows: Int { view.packedRows }

    /// This matrix with its whole groups of 8 rows copied into the packed layout (itself when the type has
    /// none or there are fewer than 8 rows). Products give the same floats either way.
    public func packedForDecode() -> WeightMatrix {
        guard Self.packs(type), packed == nil, rows >= Self.packGroup else { return self }
        let blocks = cols / 32, groups = rows / Self.packGroup, gb = Self.packedBlockBytes(type)
        let storage = PackedStorage(byteCount: groups * blocks * gb)
        let stored = type.block.bytes
        let header = type == .q4_1 ? 32 : 16          // the 8 d's (and 8 m's)
        let quantOffset = type == .q4_1 ? 4 : 2       // where a stored block's quants start
        let lanes = (stored - quantOffset) / 4        // 4-byte lanes per block: 4 (Q4) or 8 (Q8_0)
        let dst0 = storage.bytes
        Parallel.forEach(groups) { range in
            for g in range {
                for b in 0..<blocks {
                    let dst = dst0 + (g * blocks + b) * gb
                    for r in 0..<Self.packGroup {
                        let src = row(g * Self.packGroup + r) + b * stored
                        dst.storeBytes(of: src.loadUnaligned(as: UInt16.self), toByteOffset: 2 * r, as: UInt16.self)
                        if type == .q4_1 {
                            dst.storeBytes(of: src.loadUnaligned(fromByteOffset: 2, as: UInt16.self), toByteOffset: 16 + 2 * r, as: UInt16.self)
                        }
                        for j in 0..<lanes {
                            let word = src.loadUnaligned(fromByteOffset: quantOffset + 4 * j, as: UInt32.self)
                            dst.storeBytes(of: word, toByteOffset: header + 32 * j + 4 * r, as: UInt32.self)
                        }
                    }
                }
            }
        }
        return WeightMatrix(type: type, rows: rows, cols: cols, base: base, packed: UnsafeRawPointer(dst0), storage: storage)
    }

    /// Decodes rows `r0 ..< r0+n` for the long-batch SGEMM path: Q4_1 as d·nibble (`out`) and m per block
    /// (`mins`, n·cols/32 values), other types as their values. Reads packed groups where there are some.
    func decodeRows(_ r0: Int, _ n: Int, into out: UnsafeMutablePointer<Float>, mins: UnsafeMutablePointer<Float>) {
        let blocks = cols / 32
        var r = r0
        while r < r0 + n {
            let o = out + (r - r0) * cols, mo = mins + (r - r0) * blocks
            if r < packedRows && r % Self.packGroup == 0 && r + Self.packGroup <= r0 + n {
                decodeGroup(r, into: o, mins: mo)
                r += Self.packGroup
                continue
            }
            if type == .q4_1 {
                QuantBlocks.splitQ4_1(row(r), scaled: o, mins: mo, count: cols)
            } else {
                QuantBlocks.dequantize(type, row(r), o, count: cols)
            }
            r += 1
        }
    }

    /// One packed group's 8 rows, decoded as `decodeRows` does.
    private func decodeGroup(_ r: Int, into out: UnsafeMutablePointer<Float>, mins: UnsafeMutablePointer<Float>) {
        let blocks = cols / 32, gb = Self.packedBlockBytes(type), g = view.group(r)
        for b in 0..<blocks {
            let p = g + b * gb
            for i in 0..<Self.packGroup {
                let d = QuantBlocks.half(p, 2 * i)
                let y = out + i * cols + 32 * b
                switch type {
                case .q8_0:
                    for k in 0..<32 { y[k] = d * Float(p.load(fromByteOffset: 16 + 32 * (k / 4) + 4 * i + k % 4, as: Int8.self)) }
                default:
                    // The arithmetic of QuantBlocks.splitQ4_1 (d·q) and of its Q4_0 decoder (−8d + q·d, fused).
                    let hasMin = type == .q4_1, header = hasMin ? 32 : 16
                    for k in 0..<16 {
                        let q = p.load(fromByteOffset: header + 32 * (k / 4) + 4 * i + k % 4, as: UInt8.self)
                        if hasMin {
                            y[k] = Float(q & 0xF) * d
                            y[k + 16] = Float(q >> 4) * d
                        } else {
                            y[k] = (-8 * d).addingProduct(Float(q & 0xF), d)
                            y[k + 16] = (-8 * d).addingProduct(Float(q >> 4), d)
                        }
                    }
                    if hasMin { mins[i * blocks + b] = QuantBlocks.half(p, 16 + 2 * i) }
                }
            }
        }
    }
}
