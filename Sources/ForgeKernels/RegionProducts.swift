// RegionProducts: one token's matrix products, prepared before a worker region and run by all of its parts.
//
// A decoded token runs ~120 products. Through `WeightMatrix.multiply` each is a hand-off of its own, with its
// activation rounding on the caller while the workers wait, and arrays of parts built for every call. Inside a
// region (`WorkerPool.region`) the row-group tables are built once per step, every part rounds the activations
// into its own scratch (a few hundred nanoseconds, so no barrier before the rows), the row groups are split as
// `multiply` splits them, and the product ends at one barrier. Each row's floats are `multiply`'s.
import ForgeCore

/// Products of one row of activations, prepared once per forward step and run inside a `WorkerPool.region`.
public final class RegionProducts: @unchecked Sendable {
    struct Entry {
        var table: RowTable
        var cols: Int
        var needQ8: Bool
        var needK: Bool
    }

    private let entries: UnsafeMutablePointer<Entry>
    private let tables: UnsafeMutablePointer<RowPart>
    private let capacity, tableCapacity: Int
    private var count = 0, used = 0
    private let blockTiles: Bool
    /// Each part's scratch: slots for its `Q8Activations` and `Q8KActivations`, then their values.
    private let scratch: UnsafeMutableRawPointer
    private let scratchStride, q8Offset, kOffset: Int

    /// Room for `capacity` products of up to `parts` matrices each (at most `maxCols` wide), run by up to `regionParts` parts
    /// in `order`.
    public init(capacity: Int, parts: Int, maxCols: Int, regionParts: Int, order: ProductOrder) {
        self.capacity = capacity
        tableCapacity = capacity * (parts + 1)
        entries = .allocate(capacity: capacity)
        tables = .allocate(capacity: tableCapacity)
        blockTiles = order == .blockSums
        let slots = 2 * 64
        q8Offset = slots
        kOffset = q8Offset + (Q8Activations.scratchBytes(count: maxCols) + 63) / 64 * 64
        scratchStride = kOffset + (Q8KActivations.scratchBytes(count: maxCols / 256 * 256 + 256) + 63) / 64 * 64
        scratch = .allocate(byteCount: max(1, regionParts) * scratchStride, alignment: 64)
    }

    deinit {
        entries.deinitialize(count: count).deallocate()
        tables.deinitialize(count: used).deallocate()
        scratch.deallocate()
    }

    /// True when `matrix` has kernels a region product can run (integer dot products against 8-bit activations).
    public static func supports(_ matrix: WeightMatrix) -> Bool { matrix.hasIntegerKernel }

    /// Prepares y_i = x·W_iᵀ for every part (matrices of the same width, each `supports`), outputs rows of `rows` values;
    /// returns the product's index for `run`.
    public func add(_ parts: [(WeightMatrix, UnsafeMutablePointer<Float>)]) -> Int {
        precondition(count < capacity && used + parts.count + 1 <= tableCapacity, "RegionProducts: more products than prepared for")
        precondition(parts.allSatisfy { Self.supports($0.0) && $0.0.cols == parts[0].0.cols }, "RegionProducts: unsupported parts")
        let table = RowTable(parts.map { ($0.0, $0.1, $0.0.rows) }, into: tables + used, minChunkGroups: 1)
        used += parts.count + 1
        let cols = parts[0].0.cols
        (entries + count).initialize(to: Entry(table: table, cols: cols, needQ8: parts.contains { QuantDotQ8.supports($0.0.type) },
                                               needK: parts.contains { QuantDotK.supports($0.0.type) }))
        count += 1
        return count - 1
    }

    /// Points part `part` of product `i` at a new output (the same layout): a product prepared once can write into
    /// each step's own buffer.
    public func setOutput(_ i: Int, part: Int = 0, _ out: UnsafeMutablePointer<Float>) {
        precondition(i < count, "RegionProducts: no product \(i)")
        entries[i].table.table[part].out = out
    }

    /// The K-quant kernels' plan for one token: each part makes its own (no array shared between cores).
    public func plan() -> KQuantOneToken { KQuantOneToken(plan: KQuantPlan(segments: [1], tokens: 1)) }

    /// Runs product `i` on x (one row) as part `part` of a region: rounds x into the part's scratch, runs the part's row
    /// groups, and meets the other parts at a barrier. Every part calls it with the same `i` and `x`.
    public func run(_ i: Int, _ x: UnsafePointer<Float>, _ part: RegionPart, _ plan: KQuantOneToken) {
        let e = entries[i]
        let s = scratch + part.index * scratchStride
        let a = s.bindMemory(to: Q8Activations.self, capacity: 1)
        let k = (s + 64).bindMemory(to: Q8KActivations.self, capacity: 1)
        if e.needQ8 {
            a.initialize(to: Q8Activations(count: e.cols, in: s + q8Offset))
            a.pointee.quantize(x)
        }
        if e.needK {
            k.initialize(to: Q8KActivations(count: e.cols, in: s + kOffset))
            k.pointee.quantize(x)
        }
        let blockTiles = self.blockTiles
        let aq = e.needQ8 ? UnsafePointer(a) : nil, kq = e.needK ? UnsafePointer(k) : nil
        e.table.forEach(part, grain: 1, runBytes: blockTiles ? Int.max / 4 : 0) { m, out, ld, r, n in
            WeightMatrix.integerRun(m, out, ld, r, n, tokens: 1, aq, kq, plan.plan, blockTiles: blockTiles)
        }
    }
}

/// The K-quant kernels' plan for one token, held by one part of a region.
public struct KQuantOneToken {
    let plan: KQuantPlan
}
