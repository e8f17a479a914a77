// PackedRows: integer-kernel matrices (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) re-laid out in groups of eight rows,
// for the decode kernels.
//
// Per group of 8 rows and per 32-value block: the 8 rows' scales d (f16); for Q4_1/Q5_1 their 8 minimums m;
// for Q5 the fifth bits regrouped as 8 words (word j of the low half, then of the high half: bit 4r+i is
// row r's bit for element 4j+i, or 16+4j+i); then the quants as 32-byte vectors whose 4-byte lane r holds
// row r's bytes 4j..4j+3 (vector j). One byte dot product of vector j with activation bytes 4j..4j+3
// broadcast to every lane then gives lane j of all 8 rows at once, and one d·d_x vector scales them: no
// per-row broadcasts, conversions or horizontal sums. The bytes are the file's, moved (like llama.cpp's CPU
// "repack" buffers); groups are contiguous, so each worker streams one run of memory. Rows past the last
// whole group stay in the stored layout.
import ForgeCore

/// Memory holding a packed copy of a matrix (kept alive by the `WeightMatrix` values that use it).
final class PackedStorage: @unchecked Sendable {
    let bytes: UnsafeMutableRawPointer
    private let slab: WeightArena.Slab?
    init(byteCount: Int) { (bytes, slab) = WeightArena.shared.allocate(byteCount) }
    deinit {
        if let slab { WeightArena.shared.release(slab) } else { bytes.deallocate() }
    }
}

/// Where things are in a packed block of eight rows, and in a stored block.
struct PackedLayout {
    let type: GGMLType
    /// Offset of the 8 minimums (Q4_1, Q5_1).
    @inline(__always) var mins: Int { 16 }
    /// Offset of the 8 fifth-bit words (Q5_0, Q5_1).
    @inline(__always) var fifthBits: Int { QuantBlocks.hasMin(type) ? 32 : 16 }
    /// Offset of the first quant vector.
    @inline(__always) var quants: Int { 16 + (QuantBlocks.hasMin(type) ? 16 : 0) + (isQ5 ? 32 : 0) }
    /// Quant vectors per block: 4 (nibbles) or 8 (Q8_0 bytes).
    @inline(__always) var vectors: Int { type == .q8_0 ? 8 : 4 }
    @inline(__always) var isQ5: Bool { type == .q5_0 || type == .q5_1 }
    /// Where a stored block's quant bytes start, and (Q5) its fifth bits.
    @inline(__always) var storedQuants: Int { (QuantBlocks.hasMin(type) ? 4 : 2) + (isQ5 ? 4 : 0) }
    @inline(__always) var storedFifthBits: Int { QuantBlocks.hasMin(type) ? 4 : 2 }
    /// Bytes of one packed block (8 stored blocks, rearranged).
    @inline(__always) var bytes: Int { WeightMatrix.packGroup * type.block.bytes }
}

extension WeightMatrix {
    /// Rows per packed group.
    public static let packGroup = 8

    /// True for the types with a packed layout (the 32-value integer-kernel types, and Q4_K).
    public static func packs(_ type: GGMLType) -> Bool { QuantDotQ8.supports(type) || type == .q4_K }

    /// Bytes of one block of one packed group.
    static func packedBlockBytes(_ type: GGMLType) -> Int { type == .q4_K ? QuantDotK.q4KPackedBytes : packGroup * type.block.bytes }

    /// Rows held in packed groups (0 when not packed).
    public var packedRows: Int { view.packedRows }

    /// This matrix with its whole groups of 8 rows copied into the packed layout (itself when the type has
    /// none or there are fewer than 8 rows). Products give the same floats either way, except for Q4_0: it is
    /// packed only when its rows are a multiple of 8, and then summed as llama.cpp sums its repacked Q4_0
    /// (whole blocks in integers), as llama.cpp does for such matrices and only for them.
    public func packedForDecode() -> WeightMatrix {
        guard Self.packs(type), packed == nil, rows >= Self.packGroup else { return self }
        // Packed Q4_0 and Q4_K are summed in llama.cpp's repacked order, which it uses for a multiple of 8 rows only.
        if (type == .q4_0 || type == .q4_K) && rows % Self.packGroup != 0 { return self }
        if type == .q4_K { return packedQ4K() }
        let layout = PackedLayout(type: type)
        let blocks = cols / 32, groups = rows / Self.packGroup, gb = layout.bytes, stored = type.block.bytes
        let storage = PackedStorage(byteCount: groups * blocks * gb)
        let dst0 = storage.bytes
        Parallel.forEach(groups) { range in
            for g in range {
                for b in 0..<blocks {
                    let dst = dst0 + (g * blocks + b) * gb
                    if layout.isQ5 { (dst + layout.fifthBits).initializeMemory(as: UInt8.self, repeating: 0, count: 32) }
                    for r in 0..<Self.packGroup {
                        let src = row(g * Self.packGroup + r) + b * stored
                        dst.storeBytes(of: src.loadUnaligned(as: UInt16.self), toByteOffset: 2 * r, as: UInt16.self)
                        if QuantBlocks.hasMin(type) {
                            dst.storeBytes(of: src.loadUnaligned(fromByteOffset: 2, as: UInt16.self), toByteOffset: layout.mins + 2 * r,
                                           as: UInt16.self)
                        }
                        for j in 0..<layout.vectors {
                            let word = src.loadUnaligned(fromByteOffset: layout.storedQuants + 4 * j, as: UInt32.self)
                            dst.storeBytes(of: word, toByteOffset: layout.quants + 32 * j + 4 * r, as: UInt32.self)
                        }
                        if layout.isQ5 {
                            let qh = src.loadUnaligned(fromByteOffset: layout.storedFifthBits, as: UInt32.self)
                            for j in 0..<8 {  // words 0..<4: elements 4j..; 4..<8: elements 16 + 4(j − 4)..
                                let nibble = (qh >> UInt32(4 * j)) & 0xF
                                let at = layout.fifthBits + 4 * j
                                let word = dst.loadUnaligned(fromByteOffset: at, as: UInt32.self) | nibble << UInt32(4 * r)
                                dst.storeBytes(of: word, toByteOffset: at, as: UInt32.self)
                            }
                        }
                    }
                }
            }
        }
        return WeightMatrix(type: type, rows: rows, cols: cols, base: base, packed: UnsafeRawPointer(dst0), storage: storage)
    }

    /// Q4_K's packed copy (QuantDotK's layout).
    private func packedQ4K() -> WeightMatrix {
        let blocks = cols / 256, groups = rows / Self.packGroup, gb = QuantDotK.q4KPackedBytes
        let storage = PackedStorage(byteCount: groups * blocks * gb)
        let dst0 = storage.bytes
        Parallel.forEach(groups) { range in
            for g in range {
                for b in 0..<blocks {
                    QuantDotK.packQ4K({ r in row(g * Self.packGroup + r) + b * 144 }, into: dst0 + (g * blocks + b) * gb)
                }
            }
        }
        return WeightMatrix(type: type, rows: rows, cols: cols, base: base, packed: UnsafeRawPointer(dst0), storage: storage)
    }

    /// Decodes rows `r0 ..< r0+n` to Float32 (`dequantizeRow`'s values), from packed groups where there are some.
    func decodeRows(_ r0: Int, _ n: Int, into out: UnsafeMutablePointer<Float>) {
        for r in r0..<(r0 + n) {
            if type == .q4_K && r < packedRows {
                let p = view.group(r - r % Self.packGroup)
                for b in 0..<(cols / 256) {
                    QuantDotK.decodeQ4K(p + b * QuantDotK.q4KPackedBytes, row: r % Self.packGroup, into: out + (r - r0) * cols + 256 * b)
                }
            } else {
                QuantBlocks.dequantize(type, row(r), out + (r - r0) * cols, count: cols)
            }
        }
    }

    /// Decodes rows `r0 ..< r0+n` for the long-batch SGEMM path: Q4_1/Q5_1 as d·q (`out`) and m per block
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
            if QuantBlocks.hasMin(type) {
                QuantBlocks.splitWithMins(type, row(r), scaled: o, mins: mo, count: cols)
            } else {
                QuantBlocks.dequantize(type, row(r), o, count: cols)
            }
            r += 1
        }
    }

    /// One packed group's 8 rows, decoded as `decodeRows` does (the arithmetic of QuantBlocks: d·q for types
    /// with a minimum, −8d + q·d fused for Q4_0, (q − 16)·d for Q5_0, q·d for Q8_0), 16 values at a time.
    private func decodeGroup(_ r: Int, into out: UnsafeMutablePointer<Float>, mins: UnsafeMutablePointer<Float>) {
        let layout = PackedLayout(type: type)
        let blocks = cols / 32, g = view.group(r), hasMin = QuantBlocks.hasMin(type)
        /// Lane 4j + e of row i's bytes in quant vectors j0 ..< j0+4 (vector j holds 4 bytes of each of the 8 rows).
        @inline(__always) func bytes(_ p: UnsafeRawPointer, _ i: Int, _ j0: Int) -> SIMD16<UInt8> {
            unsafeBitCast(SIMD4<UInt32>(p.loadUnaligned(fromByteOffset: layout.quants + 32 * j0 + 4 * i, as: UInt32.self),
                                        p.loadUnaligned(fromByteOffset: layout.quants + 32 * (j0 + 1) + 4 * i, as: UInt32.self),
                                        p.loadUnaligned(fromByteOffset: layout.quants + 32 * (j0 + 2) + 4 * i, as: UInt32.self),
                                        p.loadUnaligned(fromByteOffset: layout.quants + 32 * (j0 + 3) + 4 * i, as: UInt32.self)),
                          to: SIMD16<UInt8>.self)
        }
        /// Row i's fifth bits of the low (offset 0) or high (16) halves, as 0 or 16 per lane 4j + e.
        @inline(__always) func fifth(_ p: UnsafeRawPointer, _ i: Int, _ half: Int) -> SIMD16<UInt8> {
            var words = SIMD4<UInt32>()
            for j in 0..<4 { words[j] = (p.loadUnaligned(fromByteOffset: layout.fifthBits + half + 4 * j, as: UInt32.self) &>> UInt32(4 * i)) & 0xF }
            let spread = unsafeBitCast(words &* 0x0101_0101, to: SIMD16<UInt8>.self)
            return ((spread &>> SIMD16<UInt8>(0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3)) & 1) &<< 4
        }
        @inline(__always) func floats(_ v: SIMD16<UInt8>) -> SIMD16<Float> {
            var f = SIMD16<Float>()
            for l in 0..<16 { f[l] = Float(v[l]) }
            return f
        }
        for b in 0..<blocks {
            let p = g + b * layout.bytes
            for i in 0..<Self.packGroup {
                let d = QuantBlocks.half(p, 2 * i), dv = SIMD16<Float>(repeating: d)
                let y = out + i * cols + 32 * b
                if type == .q8_0 {
                    for (half, j0) in [(0, 0), (16, 4)] {
                        let v = unsafeBitCast(bytes(p, i, j0), to: SIMD16<Int8>.self)
                        var f = SIMD16<Float>()
                        for l in 0..<16 { f[l] = Float(v[l]) }
                        store16(f * dv, y, half)
                    }
                    continue
                }
                let q = bytes(p, i, 0)
                var lo = q & 0xF, hi = q &>> 4
                if layout.isQ5 {
                    lo |= fifth(p, i, 0)
                    hi |= fifth(p, i, 16)
                }
                let fl = floats(lo), fh = floats(hi)
                switch type {
                case .q4_0:
                    let base = SIMD16<Float>(repeating: -8 * d)
                    var a = base, c = base
                    a.addProduct(fl, dv)
                    c.addProduct(fh, dv)
                    store16(a, y, 0)
                    store16(c, y, 16)
                case .q5_0:
                    store16((fl - 16) * dv, y, 0)
                    store16((fh - 16) * dv, y, 16)
                default:
                    store16(fl * dv, y, 0)
                    store16(fh * dv, y, 16)
                }
                if hasMin { mins[i * blocks + b] = QuantBlocks.half(p, layout.mins + 2 * i) }
            }
        }
    }
}
