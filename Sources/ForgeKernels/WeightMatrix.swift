// WeightMatrix: a row-major weight matrix stored in any supported GGML type, and its products.
//
// Q4_0/Q4_1/Q5_0/Q5_1/Q8_0, Q6_K and packed Q4_K (what published GGUFs mostly hold): integer dot products with
// 8-bit activations, token by token for one token and prompts shorter than 64 tokens, in tiles of several tokens
// for longer batches (PackedGEMM, KQuantGEMM). Other types: one token dots each row with Float32 activations
// straight from its blocks; several tokens decode strips of rows to Float32 and use SGEMM.
import CSIMD
import ForgeCore
import Foundation

/// A view of `rows × cols` weights in `type`, over memory kept alive by the owner (a mapped GGUF, a tensor).
public struct WeightMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let base: UnsafeRawPointer
    /// The first `packedRows` rows again in groups of 8 (PackedRows), when `packedForDecode()` made them.
    public let packed: UnsafeRawPointer?
    let storage: PackedStorage?

    public init(type: GGMLType, rows: Int, cols: Int, base: UnsafeRawPointer) {
        self.init(type: type, rows: rows, cols: cols, base: base, packed: nil, storage: nil)
    }

    init(type: GGMLType, rows: Int, cols: Int, base: UnsafeRawPointer, packed: UnsafeRawPointer?, storage: PackedStorage?) {
        precondition(QuantBlocks.isSupported(type), "unsupported weight type \(type)")
        precondition(cols % type.block.elements == 0, "\(cols) columns is not a whole number of \(type) blocks")
        self.type = type
        self.rows = rows
        self.cols = cols
        self.base = base
        self.packed = packed
        self.storage = storage
    }

    /// Bytes of one stored row.
    public var rowBytes: Int { cols / type.block.elements * type.block.bytes }

    /// The fields the kernels read, without the reference that keeps packed rows alive (loops over views
    /// retain and release nothing).
    var view: RowsView { RowsView(type: type, rows: rows, cols: cols, base: base, packed: packed) }

    /// The stored bytes of row `r`.
    @inline(__always) public func row(_ r: Int) -> UnsafeRawPointer { base + r * rowBytes }

    /// Decodes row `r` into `out[cols]`.
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        QuantBlocks.dequantize(type, row(r), out, count: cols)
    }

    /// Rows per strip where products of several tokens decode rows for SGEMM outside `WeightMatrix.multiply` (DecodedProducts).
    static let strip = 64

    /// Float32 values of one decoded strip in the SGEMM paths (256 rows of 576: 576 KiB, within a 1 MiB L2).
    static let stripValues = 256 * 576

    /// The SGEMM paths' strips (part, first row, rows): each part's rows in strips of at most `stripValues / cols`
    /// rows, on whole groups of 8, as many per part as a multiple of the threads and of near-equal size, so the fixed
    /// halves of the list carry equal work (15 strips of 64 over 2 threads left one waiting for a strip).
    static func strips(_ parts: [(WeightMatrix, UnsafeMutablePointer<Float>, Int)], threads: Int) -> [(part: Int, row: Int, count: Int)] {
        let maxRows = max(packGroup, stripValues / parts[0].0.cols / packGroup * packGroup)
        var out: [(part: Int, row: Int, count: Int)] = []
        for (p, part) in parts.enumerated() {
            let rows = part.0.rows, groups = (rows + packGroup - 1) / packGroup
            let count = min(groups, ((groups + maxRows / packGroup - 1) / (maxRows / packGroup) + threads - 1) / threads * threads)
            for s in 0..<count {
                let r0 = packGroup * (groups * s / count), r1 = min(rows, packGroup * (groups * (s + 1) / count))
                out.append((p, r0, r1 - r0))
            }
        }
        return out
    }

    /// Long batches of packed Q8_0 go through SGEMM (`multiplyRounded`) rather than the integer tiles when the CPU
    /// has no VNNI: AVX2 multiplies int8 by int8 with two multiply instructions per 32 products (vpmaddubsw after
    /// moving signs, then vpmaddwd), no faster than Float32 FMA, and OpenBLAS's tuned SGEMM then wins (measured
    /// with `forge bench kernels --tokens 512`). With VNNI one vpdpbusd does the 32 products and the tiles win.
    /// `FORGE_Q8_0_LONG=tiles` or `=sgemm` forces one (to measure both on one machine).
    public static let q8_0LongThroughSGEMM: Bool = {
        switch ProcessInfo.processInfo.environment["FORGE_Q8_0_LONG"] {
        case "tiles": return false
        case "sgemm": return true
        default: return forge_has_vnni() == 0
        }
    }()

    /// Batches of this many tokens or more multiply the integer-kernel types in tiles of several tokens (or by SGEMM
    /// for unpacked 32-value types, `multiplyRounded`), as llama.cpp's attention switches to Float32 tiles at the same size.
    public static let longBatch = 64

    /// y[t·ldy + r] = W[r]·x[t·cols ..] for every token t < `tokens` and row r, threaded over rows.
    public func multiply(_ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil,
                         path: Path = .auto, order: ProductOrder = .standard) {
        WeightMatrix.multiply([(self, y)], x, tokens: tokens, ldy: ldy.map { [$0] }, path: path, order: order)
    }

    /// Which kernels a product uses: by batch size (`auto`), or forced, so that a sequence decoded in a
    /// batch with others gets the arithmetic it would get alone.
    public enum Path: Sendable { case auto, short, long }

    /// Several matrices with the same input width applied to the same x in one parallel pass
    /// (for example Q, K and V, or gate and up), so a token pays one thread hand-off, not three.
    /// `segments` (token counts summing to `tokens`) says which tokens belong to one sequence: the K-quant kernels
    /// pick their float order per sequence as llama.cpp does per batch, so a sequence gets the same floats alone
    /// or batched with others (default: all tokens are one sequence).
    /// `order`: the float order of the short path's packed Q4_1/Q5_0/Q5_1/Q8_0 products (ProductOrder).
    public static func multiply(_ parts: [(WeightMatrix, UnsafeMutablePointer<Float>)], _ x: UnsafePointer<Float>,
                                tokens: Int, ldy: [Int]? = nil, path: Path = .auto, segments: [Int]? = nil,
                                order: ProductOrder = .standard) {
        guard let first = parts.first, tokens > 0 else { return }
        let cols = first.0.cols
        precondition(parts.allSatisfy { $0.0.cols == cols }, "multiply: matrices differ in width")
        let indexed = parts.indices.map { (parts[$0].0, parts[$0].1, ldy?[$0] ?? parts[$0].0.rows) }
        // (One token's products run ~120 times a token: no further arrays when every part has integer kernels.)
        let allInteger = indexed.allSatisfy { $0.0.hasIntegerKernel }
        let integer = allInteger ? indexed : indexed.filter { $0.0.hasIntegerKernel }
        let float = allInteger ? [] : indexed.filter { !$0.0.hasIntegerKernel }
        if path == .short || (path == .auto && tokens < longBatch) {
            if !integer.isEmpty { multiplyInteger(integer, x, tokens: tokens, segments: segments ?? [tokens], order: order) }
        } else {
            let sgemm = { (m: WeightMatrix) in m.packed == nil || (m.type == .q8_0 && q8_0LongThroughSGEMM) }
            let tiled = integer.filter { QuantDotQ8.supports($0.0.type) && !sgemm($0.0) }
            let rounded = integer.filter { QuantDotQ8.supports($0.0.type) && sgemm($0.0) }
            if !tiled.isEmpty { multiplyTiles(tiled, x, tokens: tokens) }
            if !rounded.isEmpty { multiplyRounded(rounded, x, tokens: tokens) }
            let kQuants = integer.filter { QuantDotK.supports($0.0.type) }
            if !kQuants.isEmpty { multiplyKTiles(kQuants, x, tokens: tokens, segments: segments ?? [tokens]) }
        }
        if float.isEmpty { return }
        // A forced short path dots row by row for any count, so each token's floats do not depend on its batch.
        if tokens < 4 || path == .short { multiplyDot(float, x, tokens: tokens) } else { multiplyStrips(float, x, tokens: tokens) }
    }

    /// True when products of one token run in integers against 8-bit activations: the 32-value types, Q6_K,
    /// and Q4_K when packed.
    var hasIntegerKernel: Bool { QuantDotQ8.supports(type) || type == .q6_K || (type == .q4_K && packed != nil) }

    /// Integer-kernel types: every token's activations rounded to 8 bits, then each group of rows against every
    /// token by the integer kernels (rows stay in cache across tokens). Short prompts and single tokens take
    /// the same arithmetic: in llama.cpp's order (its floats), or for packed Q4_1/Q5_0/Q5_1/Q8_0 with `.blockSums`
    /// the long-batch tiles' (PackedGEMM).
    static func multiplyInteger(_ parts: [(WeightMatrix, UnsafeMutablePointer<Float>, Int)], _ x: UnsafePointer<Float>, tokens: Int,
                                segments: [Int], order: ProductOrder) {
        let cols = parts[0].0.cols
        // Q8_0/Q8_1 rounding (32 values) for the 32-value types, Q8_K (256 values) for the K-quants.
        let needQ8 = parts.contains { QuantDotQ8.supports($0.0.type) }, needK = parts.contains { QuantDotK.supports($0.0.type) }
        let plan = needK ? KQuantPlan(segments: segments, tokens: tokens) : nil
        let q8Bytes = needQ8 ? (Q8Activations.scratchBytes(count: cols) + 63) / 64 * 64 : 0
        let kBytes = needK ? (Q8KActivations.scratchBytes(count: cols) + 63) / 64 * 64 : 0
        ActivationScratch.with(bytes: tokens * (q8Bytes + kBytes)) { scratch in
        withUnsafeTemporaryAllocation(of: Q8Activations.self, capacity: needQ8 ? tokens : 0) { ab in
        withUnsafeTemporaryAllocation(of: Q8KActivations.self, capacity: needK ? tokens : 0) { kb in
            for t in 0..<(needQ8 ? tokens : 0) { (ab.baseAddress! + t).initialize(to: Q8Activations(count: cols, in: scratch + t * q8Bytes)) }
            for t in 0..<(needK ? tokens : 0) {
                (kb.baseAddress! + t).initialize(to: Q8KActivations(count: cols, in: scratch + tokens * q8Bytes + t * kBytes))
            }
            let a = needQ8 ? UnsafePointer(ab.baseAddress) : nil, k = needK ? UnsafePointer(kb.baseAddress) : nil
            @inline(__always) func quantize(_ t: Int) {
                if let a { a[t].quantize(x + t * cols) }
                if let k { k[t].quantize(x + t * cols) }
            }
            if tokens < 8 {
                for t in 0..<tokens { quantize(t) }
            } else {
                WorkerPool.shared.forEach(tokens) { r in for t in r { quantize(t) } }
            }
            let blockTiles = order == .blockSums
            // In block order, a worker's consecutive packed groups come as one run (one dispatch, not one per group).
            forEachRowGroup(parts, grain: tokens == 1 ? 8 : 1, runBytes: blockTiles ? Int.max / 4 : 0) { m, out, ld, r, n in
                integerRun(m, out, ld, r, n, tokens: tokens, a, k, plan, blockTiles: blockTiles)
            }
        } } }
    }

    /// Rows `r ..< r + n` of `m` against every token in llama.cpp's order (packed groups, Q6_K, and rows in the
    /// stored layout): `multiplyInteger`'s less common cases, out of its per-group closure.
    @inline(never)
    static func integerRows(_ m: RowsView, _ out: UnsafeMutablePointer<Float>, _ ld: Int, _ r: Int, _ n: Int, tokens: Int,
                            _ a: UnsafePointer<Q8Activations>?, _ k: UnsafePointer<Q8KActivations>?, _ plan: KQuantPlan?) {
        if n == packGroup && r < m.packedRows {
            let g = m.group(r)
            for t in 0..<tokens {
                // llama.cpp takes tokens four at a time through its Q4_K gemm, the rest one by one.
                let v = m.type == .q4_K ? QuantDotK.q4KPacked(g, k![t], pairs: plan!.inFours[t])
                                        : PackedDot.dot8(m.type, g, a![t])
                UnsafeMutableRawPointer(out + t * ld + r).storeBytes(of: v, as: SIMD8<Float>.self)
            }
            return
        }
        if m.type == .q6_K {
            for t in 0..<tokens {
                let v = QuantDotK.q6K(m.row(r), stride: m.rowBytes, k![t], rows: n, batch: plan!.tiled[t])
                for i in 0..<n { out[t * ld + r + i] = v[i] }
            }
            return
        }
        let a = a!
        for t in 0..<tokens {
            let o = out + t * ld + r
            if n == 4 {
                let v = QuantDotQ8.dot4(m.type, m.row(r), stride: m.rowBytes, a[t], rows: 4)
                o[0] = v[0]; o[1] = v[1]; o[2] = v[2]; o[3] = v[3]
            } else {
                for i in 0..<n { o[i] = QuantDotQ8.dot(m.type, m.row(r + i), a[t]) }
            }
        }
    }

    /// Tokens from which a short batch in block order takes the wide tiles (`tiledRun`) rather than `PackedGEMM.rows`
    /// (`forge bench kernels --rows 1536 --cols 576 --path short`, 1 thread, GFLOP/s of Q8_0 / Q4_1 / Q5_0, rows then
    /// tiles: 2 tokens 132/143/128 → 118/132/111; 3: 152/164/150 → 169/195/160; 16: 166/163/164 → 211/247/191).
    static let shortTilesFrom = 3

    /// Bytes of packed weights (at least four groups) a long batch's tiles run through before the next four tokens.
    static let tileRunBytes = 16384

    /// Least weight bytes of a chunk the workers claim at the end of a product (about half a microsecond of one
    /// token's reading): smaller chunks cost more in claims than they even out.
    static let minChunkBytes = 4096

    /// Packed 32-value types, long batches: tiles of 8 rows × 4 tokens in integers (PackedGEMM), 32 rows × 4 tokens
    /// with AVX-512 VNNI (PackedGEMMWide, the same floats), over runs of groups; rows outside the packed groups as
    /// the short path computes them.
    static func multiplyTiles(_ parts: [(WeightMatrix, UnsafeMutablePointer<Float>, Int)], _ x: UnsafePointer<Float>, tokens: Int) {
        let cols = parts[0].0.cols
        let q8Bytes = (Q8Activations.scratchBytes(count: cols) + 63) / 64 * 64
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: tokens * q8Bytes, alignment: 64)
        defer { scratch.deallocate() }
        let acts = (0..<tokens).map { t in Q8Activations(count: cols, in: scratch + t * q8Bytes) }
        acts.withUnsafeBufferPointer { ab in
            let a = ab.baseAddress!
            WorkerPool.shared.forEach(tokens) { r in for t in r { a[t].quantize(x + t * cols) } }
            forEachRowGroup(parts, grain: 1, runBytes: tileRunBytes, minChunkGroups: PackedGEMMWide.groups) { m, out, ld, r, n in
                if n % packGroup == 0 && r + n <= m.packedRows {
                    tiledRun(m, out, ld, r, n, a, tokens: tokens)
                    return
                }
                for t in 0..<tokens {
                    for i in 0..<n { out[t * ld + r + i] = QuantDotQ8.dot(m.type, m.row(r + i), a[t]) }
                }
            }
        }
    }

    /// Rows `r ..< r + n` (whole packed groups) of a packed 32-value type against every token, 4 tokens at a time:
    /// 32-row tiles with AVX-512 VNNI (PackedGEMMWide), then 8-row tiles (PackedGEMM), all with the same floats.
    @inline(__always)
    static func tiledRun(_ m: RowsView, _ out: UnsafeMutablePointer<Float>, _ ld: Int, _ r: Int, _ n: Int,
                         _ a: UnsafePointer<Q8Activations>, tokens: Int) {
        var t0 = 0
        while t0 < tokens {
            let k = min(PackedGEMM.tile, tokens - t0)
            var r0 = r
            if PackedGEMMWide.available {
                while r0 + PackedGEMMWide.rows <= r + n {
                    PackedGEMMWide.tile(m.type, m.group(r0), groupBytes: m.groupBytes, a, from: t0, count: k, out: out + r0, ld: ld)
                    r0 += PackedGEMMWide.rows
                }
            }
            while r0 < r + n {
                PackedGEMM.tile(m.type, m.group(r0), a, from: t0, count: k, out: out + r0, ld: ld)
                r0 += packGroup
            }
            t0 += k
        }
    }

    /// Integer-kernel types, long batches: the same rounded activations (q·d) and the same two terms as the
    /// integer kernel (Σ d·q·x̂ + Σ m·s for Q4_1/Q5_1), by SGEMM over strips of rows decoded to Float32. Only the
    /// order of the float additions differs from the integer kernel, and it runs at SGEMM speed.
    static func multiplyRounded(_ parts: [(WeightMatrix, UnsafeMutablePointer<Float>, Int)], _ x: UnsafePointer<Float>, tokens: Int) {
        let cols = parts[0].0.cols, blocks = cols / 32
        let rounded = UnsafeMutablePointer<Float>.allocate(capacity: tokens * (cols + blocks))
        defer { rounded.deallocate() }
        let sums = rounded + tokens * cols
        WorkerPool.shared.forEach(tokens) { r in
            for t in r { Q8Activations.round(x + t * cols, into: rounded + t * cols, sums: sums + t * blocks, count: cols) }
        }
        let strips = strips(parts, threads: min(WorkerPool.shared.threads, Parallel.threads)), most = strips.map(\.count).max()!
        WorkerPool.shared.forEach(strips.count) { range in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: most * (cols + blocks))
            defer { buffer.deallocate() }
            let mins = buffer + most * cols
            for s in range {
                let (p, r0, n) = strips[s]
                let (m, out, ld) = parts[p]
                m.decodeRows(r0, n, into: buffer, mins: mins)
                BLAS.sgemm(transA: false, transB: true, m: tokens, n: n, k: cols, a: rounded, lda: cols,
                           b: buffer, ldb: cols, beta: 0, c: out + r0, ldc: ld)
                if QuantBlocks.hasMin(m.type) {
                    BLAS.sgemm(transA: false, transB: true, m: tokens, n: n, k: blocks, a: sums, lda: blocks,
                               b: mins, ldb: blocks, beta: 1, c: out + r0, ldc: ld)
                }
            }
        }
    }

    /// Other types, one to three tokens: rows dotted with Float32 activations straight from their blocks.
    static func multiplyDot(_ parts: [(WeightMatrix, UnsafeMutablePointer<Float>, Int)], _ x: UnsafePointer<Float>, tokens: Int) {
        let cols = parts[0].0.cols
        forEachRowGroup(parts, grain: 16) { m, out, ld, r, n in
            for t in 0..<tokens {
                let o = out + t * ld + r
                if n == 4 {
                    let v = QuantDot.dot4(m.type, m.row(r), stride: m.rowBytes, x + t * cols, cols)
                    o[0] = v[0]; o[1] = v[1]; o[2] = v[2]; o[3] = v[3]
                } else {
                    for i in 0..<n { o[i] = QuantDot.dot(m.type, m.row(r + i), x + t * cols, cols) }
                }
            }
        }
    }

    /// Calls `body(matrix, out, ld, firstRow, rows)` for every group of rows of all parts (8 for a packed matrix,
    /// else 4; fewer at a matrix's end), the groups split over the workers in balanced shares (a fixed share each,
    /// then chunks of at least `minChunkBytes` of weights claimed as the workers finish, `WorkerPool.forEach`):
    /// every row's floats are the same whichever worker runs it.
    /// With `runBytes`, consecutive whole packed groups of one part in a worker's share come as one call of up to
    /// that many bytes of weights (at least four groups): a batch's token tiles then stay in L1 across the run.
    @inline(__always)
    static func forEachRowGroup(_ parts: [(WeightMatrix, UnsafeMutablePointer<Float>, Int)], grain: Int, runBytes: Int = 0,
                                minChunkGroups: Int = 1, _ body: (RowsView, UnsafeMutablePointer<Float>, Int, Int, Int) -> Void) {
        // (On the stack: this runs ~120 times a token.)
        withUnsafeTemporaryAllocation(of: RowPart.self, capacity: parts.count + 1) { buffer in
            let table = RowTable(parts, into: buffer.baseAddress!, minChunkGroups: minChunkGroups)
            table.forEach(WorkerPool.shared, grain: grain, runBytes: runBytes, body)
        }
    }

    /// Rows `r ..< r + n` of `m` against every token's rounded activations: `multiplyInteger`'s work for one call
    /// of its row-group loop (block tiles over runs of packed groups in block order, else `integerRows`).
    @inline(__always)
    static func integerRun(_ m: RowsView, _ out: UnsafeMutablePointer<Float>, _ ld: Int, _ r: Int, _ n: Int, tokens: Int,
                           _ a: UnsafePointer<Q8Activations>?, _ k: UnsafePointer<Q8KActivations>?, _ plan: KQuantPlan?,
                           blockTiles: Bool) {
        if blockTiles && n % packGroup == 0 && r + n <= m.packedRows && m.type != .q4_K && m.type != .q4_0 {
            // Several tokens (batched sequences, short prompts): the long batches' tiles, 32 rows wide with VNNI.
            if tokens >= shortTilesFrom && PackedGEMMWide.available && n >= PackedGEMMWide.rows {
                tiledRun(m, out, ld, r, n, a!, tokens: tokens)
            } else {
                PackedGEMM.rows(m.type, m.group(r), groups: n / packGroup, groupBytes: m.groupBytes, a!, tokens: tokens, out: out + r, ld: ld)
            }
            return
        }
        if n <= packGroup { integerRows(m, out, ld, r, n, tokens: tokens, a, k, plan); return }
        // A run the block tiles do not take (whole packed groups): group by group.
        for r0 in stride(from: r, to: r + n, by: packGroup) { integerRows(m, out, ld, r0, packGroup, tokens: tokens, a, k, plan) }
    }

    /// Other types, several tokens: strips of rows, each decoded once to Float32 and multiplied with all
    /// tokens by SGEMM, so the whole model is never held in Float32.
    static func multiplyStrips(_ parts: [(WeightMatrix, UnsafeMutablePointer<Float>, Int)], _ x: UnsafePointer<Float>, tokens: Int) {
        let cols = parts[0].0.cols
        let strips = strips(parts, threads: min(WorkerPool.shared.threads, Parallel.threads)), most = strips.map(\.count).max()!
        WorkerPool.shared.forEach(strips.count) { range in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: most * cols)
            defer { buffer.deallocate() }
            for s in range {
                let (p, r0, n) = strips[s]
                let (m, out, ld) = parts[p]
                var b = m.row(r0).assumingMemoryBound(to: Float.self)
                if m.type != .f32 {
                    m.decodeRows(r0, n, into: buffer)
                    b = UnsafePointer(buffer)
                }
                BLAS.sgemm(transA: false, transB: true, m: tokens, n: n, k: cols, a: x, lda: cols,
                           b: b, ldb: cols, beta: 0, c: out + r0, ldc: ld)
            }
        }
    }
}

/// A weight matrix as the kernels see it: plain values and pointers, kept valid by the `WeightMatrix` it came from.
struct RowsView {
    let type: GGMLType
    let rows: Int
    let cols: Int
    let base: UnsafeRawPointer
    let packed: UnsafeRawPointer?
    /// Bytes of one packed group of 8 rows (its blocks), computed once: `group(_:)` runs for every group.
    let groupBytes: Int

    init(type: GGMLType, rows: Int, cols: Int, base: UnsafeRawPointer, packed: UnsafeRawPointer?) {
        (self.type, self.rows, self.cols, self.base, self.packed) = (type, rows, cols, base, packed)
        groupBytes = packed == nil ? 0 : cols / type.block.elements * WeightMatrix.packedBlockBytes(type)
    }

    var rowBytes: Int { cols / type.block.elements * type.block.bytes }
    @inline(__always) func row(_ r: Int) -> UnsafeRawPointer { base + r * rowBytes }
    var packedRows: Int { packed == nil ? 0 : rows / WeightMatrix.packGroup * WeightMatrix.packGroup }
    /// The packed group that starts at row `r` (a multiple of 8 below `packedRows`).
    @inline(__always) func group(_ r: Int) -> UnsafeRawPointer { packed! + r / WeightMatrix.packGroup * groupBytes }
}

/// One part of a product as the row-group loop reads it: the matrix's view, its output and row stride, its first
/// group among all parts' groups, and its rows per group (8 packed, else 4).
struct RowPart {
    var view: RowsView
    var out: UnsafeMutablePointer<Float>
    var ld: Int
    var start: Int
    var size: Int
}

/// The row groups of a product's parts, in a table of `RowPart`s ending in a sentinel, and the least chunk of
/// groups worth claiming; `forEach` runs them on a `WorkSplitter`.
struct RowTable {
    let table: UnsafeMutablePointer<RowPart>
    let groups: Int
    let least: Int

    /// Writes the table for `parts` into `table` (room for `parts.count + 1` entries, initialized here).
    init(_ parts: [(WeightMatrix, UnsafeMutablePointer<Float>, Int)], into table: UnsafeMutablePointer<RowPart>, minChunkGroups: Int) {
        var groups = 0
        for (p, (m, out, ld)) in parts.enumerated() {
            let size = m.packed == nil ? 4 : WeightMatrix.packGroup
            (table + p).initialize(to: RowPart(view: m.view, out: out, ld: ld, start: groups, size: size))
            groups += (m.rows + size - 1) / size
        }
        (table + parts.count).initialize(to: RowPart(view: table[0].view, out: parts[0].1, ld: 0, start: groups, size: 1))  // sentinel
        let first = table[0].view, groupBytes = first.packed == nil ? 4 * first.rowBytes : first.groupBytes
        (self.table, self.groups) = (table, groups)
        least = max(minChunkGroups, WeightMatrix.minChunkBytes / max(1, groupBytes))
    }

    /// `WeightMatrix.forEachRowGroup`'s loop over this table, its groups split by `splitter`.
    @inline(__always)
    func forEach<S: WorkSplitter>(_ splitter: S, grain: Int, runBytes: Int,
                                  _ body: (RowsView, UnsafeMutablePointer<Float>, Int, Int, Int) -> Void) {
        let table = self.table
        splitter.forEach(groups, grain: grain, minChunk: least) { range in
            var p = 0, g = range.lowerBound
            while g < range.upperBound {
                while g >= table[p + 1].start { p += 1 }
                let part = table[p]
                let r = part.size * (g - part.start)
                let n = min(part.size, part.view.rows - r)
                if runBytes > 0 && n == WeightMatrix.packGroup && part.view.groupBytes > 0 {
                    let most = max(4, runBytes / part.view.groupBytes)
                    let end = min(range.upperBound, table[p + 1].start, g + most, part.start + part.view.rows / WeightMatrix.packGroup)
                    body(part.view, part.out, part.ld, r, (end - g) * WeightMatrix.packGroup)
                    g = end
                    continue
                }
                g += 1
                if n == part.size || n < 4 { body(part.view, part.out, part.ld, r, n); continue }
                body(part.view, part.out, part.ld, r, 4)  // a packed matrix's last rows: 4 and then the rest
                body(part.view, part.out, part.ld, r + 4, n - 4)
            }
        }
    }
}
