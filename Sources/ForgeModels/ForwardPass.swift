// ForwardPass: one step of the inference engine, as the families' inference forwards see it.
//
// A step runs a batch of rows (token, position, sequence), llama.cpp's llama_batch: the rows of one
// sequence are contiguous and in order, and several sequences decode together. The pass gives the
// family's forward what it needs over those rows: scratch, embeddings, projections (the one place where
// adapters attach, and where rows are grouped so that every sequence gets the arithmetic it would get
// alone), rotary embedding at each row's own position, attention through the cache, norms, and the
// last layer's cut to the rows whose logits are wanted.
import Foundation
import ForgeCore
import ForgeKernels

/// Which of the new positions need logits.
public enum LogitRows: Sendable, Equatable {
    case none, last, all
    /// The rows from this index of the request on (a perplexity window scores its second half).
    case from(Int)

    /// Whether row `i` of `count` new rows wants logits.
    public func wants(_ i: Int, of count: Int) -> Bool {
        switch self {
        case .none: return false
        case .last: return i == count - 1
        case .all: return true
        case .from(let k): return i >= k
        }
    }
}

/// A run of consecutive rows of one sequence in a batch.
public struct BatchSegment: Sendable, Equatable {
    public let sequence: Int
    public let start: Int
    public let count: Int
}

/// The rows of one forward step.
public struct ForwardBatch: Sendable {
    public private(set) var tokens: [Int32] = []
    public private(set) var positions: [Int] = []
    public private(set) var wantsLogits: [Bool] = []
    public private(set) var segments: [BatchSegment] = []

    public init() {}

    /// Rows in the batch.
    public var count: Int { tokens.count }

    /// Adds `tokens` of `sequence` at positions `position`, `position + 1`, ...
    public mutating func append(sequence: Int, tokens new: [Int32], at position: Int, logits: LogitRows) {
        segments.append(BatchSegment(sequence: sequence, start: tokens.count, count: new.count))
        tokens += new
        positions += position..<(position + new.count)
        wantsLogits += new.indices.map { logits.wants($0, of: new.count) }
    }

    /// Rows whose logits are wanted, in order.
    public var logitRows: [Int] { wantsLogits.indices.filter { wantsLogits[$0] } }
}

/// Sizes of attention over the cache for one layer.
public struct CacheAttentionShape: Sendable {
    public var heads, kvHeads, headDim: Int
    public var scale: Float
    /// A query at p sees keys p − window < j ≤ p (nil: all earlier keys).
    public var window: Int?
    /// Single queries over a Float16 cache take llama.cpp's floats (its f16 running sums); false: Float32 sums.
    public var exact: Bool
    public init(heads: Int, kvHeads: Int, headDim: Int, scale: Float, window: Int?, exact: Bool = true) {
        (self.heads, self.kvHeads, self.headDim, self.scale, self.window, self.exact) = (heads, kvHeads, headDim, scale, window, exact)
    }
}

/// The key/value cache as a forward sees it (the engine's paged cache implements it).
public protocol AttentionCache: AnyObject {
    /// Stores the batch's new keys and values of `layer` (rows of G·D) and writes, for every row, attention of
    /// its queries (rows of H·D) over the keys its sequence holds up to its position.
    func attend(layer: Int, batch: ForwardBatch, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                out: UnsafeMutablePointer<Float>, shape: CacheAttentionShape)
    /// A one-row batch's cached rows for a decode region, its new position writable (nil: the cache offers none).
    func decodeRows(batch: ForwardBatch) -> PagedDecodeRows?
}

extension AttentionCache {
    public func decodeRows(batch: ForwardBatch) -> PagedDecodeRows? { nil }
}

/// Something added to a projection's output at inference (a LoRA adapter applied without merging).
public protocol InferenceAdapter: AnyObject {
    /// out[t·ldy + r] += adapter(x[t])[r] for `rows` rows of input width `cols`.
    func add(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>, ldy: Int)
}

/// A weight matrix and the parameter it came from (adapters attach by that name).
public struct Projection: @unchecked Sendable {
    public let matrix: WeightMatrix
    public let name: String
    public init(_ matrix: WeightMatrix, _ name: String) { (self.matrix, self.name) = (matrix, name) }
}

/// One forward step over a batch: the helpers a family's inference forward is written with.
public final class ForwardPass {
    public let batch: ForwardBatch
    public let config: TransformerConfig
    let cache: AttentionCache
    let adapters: [String: InferenceAdapter]
    /// The float order of the integer products of short batches (and of decode attention: `.llamaCpp` is exact).
    let order: ProductOrder
    /// Rows the pass carries now: the whole batch, or after `keepLogitRows` only the rows whose logits are wanted.
    public private(set) var rows: Int
    /// Row groups multiplied separately: a sequence with 64+ rows alone (SGEMM), the others together (integer kernels).
    var groups: [(start: Int, count: Int, long: Bool, segments: [Int])] = []
    var scratch: [UnsafeMutableRawPointer] = []
    var ropeRows: [Float: RoPERows] = [:]
    /// Logits of the rows that asked for them, in row order (vocabulary-sized rows).
    public internal(set) var logits: [Float] = []

    /// One decoded token may run as one worker region (`decodeRegion`) rather than a hand-off per step.
    let regions: Bool

    public init(config: TransformerConfig, batch: ForwardBatch, cache: AttentionCache, adapters: [String: InferenceAdapter] = [:],
                order: ProductOrder = .standard, regions: Bool = ForwardPass.regionsByDefault) {
        self.regions = regions
        self.config = config
        self.order = order
        self.batch = batch
        self.cache = cache
        self.adapters = adapters
        rows = batch.count
        groups = Self.groups(batch.segments.map(\.count))
    }

    deinit { for p in scratch { p.deallocate() } }

    /// Decode regions are on unless `FORGE_DECODE_REGION=0`.
    public static let regionsByDefault = ProcessInfo.processInfo.environment["FORGE_DECODE_REGION"] != "0"

    // MARK: - Decode regions

    /// The cache rows for running this step as one worker region (`WorkerPool.region`): only for one row of one
    /// sequence that wants logits, no adapters, and matrices that all have region kernels; nil otherwise.
    public func decodeRegionRows(_ matrices: [WeightMatrix]) -> PagedDecodeRows? {
        guard regions, rows == 1, batch.count == 1, batch.wantsLogits[0], adapters.isEmpty,
              matrices.allSatisfy(RegionProducts.supports) else { return nil }
        return cache.decodeRows(batch: batch)
    }

    /// The attention shape of `layer` (as `attend` uses it).
    public func attentionShape(layer: Int, scale: Float? = nil) -> CacheAttentionShape {
        let c = config
        return CacheAttentionShape(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, scale: scale ?? c.scoreScale,
                                   window: c.window(layer), exact: order == .llamaCpp)
    }

    /// Whether RMSNorm sums in ggml's order (the llama.cpp product order) rather than in lanes.
    public var normInOrder: Bool { order == .llamaCpp }

    /// Consecutive short segments form one group; a segment of 64+ rows is a group of its own.
    static func groups(_ counts: [Int]) -> [(start: Int, count: Int, long: Bool, segments: [Int])] {
        var out: [(start: Int, count: Int, long: Bool, segments: [Int])] = []
        var start = 0
        for n in counts where n > 0 {
            let long = n >= WeightMatrix.longBatch
            if !long, let last = out.last, !last.long {
                out[out.count - 1].count += n
                out[out.count - 1].segments.append(n)
            } else {
                out.append((start, n, long, [n]))
            }
            start += n
        }
        return out
    }

    /// Scratch for `count` floats, freed with the pass.
    public func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(count, 16) * 4, alignment: 64)
        scratch.append(p)
        return p.assumingMemoryBound(to: Float.self)
    }

    // MARK: - Embeddings

    /// x[r] = table[token r] · scale, decoded from the table's stored type.
    public func embed(_ table: WeightMatrix, into x: UnsafeMutablePointer<Float>, scale: Float = 1) {
        let C = table.cols
        StepProfile.measure(.embed) {
            for r in 0..<rows {
                table.dequantizeRow(Int(batch.tokens[r]), into: x + r * C)
                if scale != 1 { for i in 0..<C { x[r * C + i] *= scale } }
            }
        }
    }

    /// x[r] += wpe[position r] (learned positions).
    public func addPositions(_ wpe: [Float], to x: UnsafeMutablePointer<Float>, cols: Int) {
        wpe.withUnsafeBufferPointer { w in
            for r in 0..<rows { add(x + r * cols, w.baseAddress! + batch.positions[r] * cols, cols) }
        }
    }

    // MARK: - Projections

    /// y_i = x·W_iᵀ for every part (matrices of the same input width), then each part's adapter, if any.
    public func project(_ parts: [(Projection, UnsafeMutablePointer<Float>)], _ x: UnsafePointer<Float>) {
        StepProfile.measure(.project) { projectRows(parts, x) }
    }

    func projectRows(_ parts: [(Projection, UnsafeMutablePointer<Float>)], _ x: UnsafePointer<Float>) {
        let cols = parts[0].0.matrix.cols
        for g in groups {
            let p = parts.map { ($0.0.matrix, $0.1 + g.start * $0.0.matrix.rows) }
            WeightMatrix.multiply(p, x + g.start * cols, tokens: g.count, path: g.long ? .long : .short, segments: g.segments, order: order)
        }
        if adapters.isEmpty { return }  // (no name hashing per product when nothing is attached)
        for (proj, out) in parts {
            adapters[proj.name]?.add(x, rows: rows, cols: cols, into: out, ldy: proj.matrix.rows)
        }
    }

    /// y[r] += bias for the current rows (no-op without a bias).
    public func addBias(_ bias: [Float]?, _ y: UnsafeMutablePointer<Float>, cols: Int) {
        guard let bias else { return }
        StepProfile.measure(.project) {
            bias.withUnsafeBufferPointer { b in for r in 0..<rows { add(y + r * cols, b.baseAddress!, cols) } }
        }
    }

    /// y += x over the current rows of width `cols`.
    public func addRows(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, cols: Int) {
        StepProfile.measure(.residual) { add(y, x, rows * cols) }
    }

    // MARK: - Positions and attention

    /// Rotates `heads` heads of every row by its position with base `theta`; `adjacent` pairs (2i, 2i+1).
    public func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, theta: Double, adjacent: Bool) {
        let key = Float(theta)
        let table = ropeRows[key] ?? RoPERows(positions: batch.positions, headDim: config.headDim, theta: key)
        ropeRows[key] = table
        StepProfile.measure(.rope) { RoPE.rotate(x, rows: 0..<rows, heads: heads, table: table, adjacent: adjacent) }
    }

    /// Attention of layer `layer` through the cache (q rows of H·D, k/v rows of G·D) into `out`; scores are scaled
    /// by `scale` (default: the config's).
    public func attend(layer: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                       out: UnsafeMutablePointer<Float>, scale: Float? = nil) {
        precondition(rows == batch.count, "attention runs on the whole batch")
        let shape = attentionShape(layer: layer, scale: scale)
        StepProfile.measure(.attention) { cache.attend(layer: layer, batch: batch, q: q, k: k, v: v, out: out, shape: shape) }
    }

    // MARK: - Norms

    /// RMSNorm (ggml's arithmetic) of the current rows, each row as rows of `weight.count` values
    /// (a per-head norm passes a head-sized weight).
    public func rmsNorm(_ x: UnsafePointer<Float>, _ weight: [Float], into y: UnsafeMutablePointer<Float>, width: Int) {
        let cols = weight.count
        StepProfile.measure(.norm) {
            weight.withUnsafeBufferPointer { w in
                LlamaCppMath.rmsNorm(x, weight: w.baseAddress!, y, rows: rows * width / cols, cols: cols, eps: config.normEps,
                                     inOrder: order == .llamaCpp)
            }
        }
    }

    /// LayerNorm with bias of the current rows.
    public func layerNorm(_ x: UnsafePointer<Float>, _ weight: [Float], _ bias: [Float], into y: UnsafeMutablePointer<Float>) {
        let cols = weight.count
        let stats = floats(2 * rows)
        StepProfile.measure(.norm) {
            weight.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    Norms.layerNormForward(x: x, weight: w.baseAddress!, bias: b.baseAddress!, out: y, mean: stats, rstd: stats + rows,
                                           rows: rows, cols: cols, eps: config.normEps)
                }
            }
        }
    }

    // MARK: - Output

    /// In the last layer: keeps only the rows whose logits are wanted, moved to the front of each buffer (of
    /// the given widths), as llama.cpp's graph does; false when no row wants logits (the step can end).
    public func keepLogitRows(_ buffers: [(UnsafeMutablePointer<Float>, Int)]) -> Bool {
        let wanted = batch.logitRows
        guard wanted.count < rows else { return true }
        guard !wanted.isEmpty else { rows = 0; return false }
        for (buffer, width) in buffers {
            for (k, r) in wanted.enumerated() where k != r { (buffer + k * width).update(from: buffer + r * width, count: width) }
        }
        rows = wanted.count
        groups = Self.groups(batch.segments.map { s in wanted.filter { $0 >= s.start && $0 < s.start + s.count }.count })
        return true
    }

    /// logits = h·Wᵀ for the current rows (which are then the rows that wanted logits).
    public func computeLogits(_ output: Projection, _ h: UnsafePointer<Float>) {
        StepProfile.measure(.logits) {
            // Every element is written by the product (no zero fill of a vocabulary-sized buffer per token).
            let n = rows * output.matrix.rows
            logits = [Float](unsafeUninitializedCapacity: n) { buffer, count in
                if n > 0 { projectRows([(output, buffer.baseAddress!)], h) }
                count = n
            }
        }
    }

    @inline(__always) func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n { store16(load16(y, i) + load16(x, i), y, i); i += 16 }
        while i < n { y[i] += x[i]; i += 1 }
    }
}
