// PagedKVCache: the keys and values of many sequences, in blocks of 32 positions allocated as sequences
// grow and freed when they end, never the whole context up front. A block holds those positions for every
// layer. Sequences that share a prefix share its blocks (a fork only counts references); the first write
// into a shared block copies it (copy on write). The cache has a memory budget: a request that would pass it
// is refused with an error that says so, before anything is written.
import ForgeCore
import ForgeKernels
import ForgeModels
import Foundation

/// How the key/value cache stores its values (llama.cpp's `--cache-type-k/-v`).
public enum KVCacheType: String, Sendable, CaseIterable {
    /// Half the memory; attention computed as llama.cpp's CPU backend does (its default).
    case f16
    /// Full precision: the engine reproduces the training model's logits.
    case f32
}

/// Memory use of a paged cache.
public struct KVCacheUsage: Sendable, Equatable {
    /// Blocks allocated, and those referenced by more than one sequence.
    public var blocks: Int
    public var sharedBlocks: Int
    /// Bytes allocated and the budget.
    public var bytes: Int
    public var budget: Int
    /// Positions held by all sequences (shared positions counted once per sequence).
    public var positions: Int
}

public final class PagedKVCache: AttentionCache {
    public let layers: Int
    public let kvWidth: Int
    public let type: KVCacheType
    /// Positions per block: 1 << `blockShift`.
    public static let blockShift = 5
    public static var blockSize: Int { 1 << blockShift }
    /// Bytes of one block (every layer's keys and values for 32 positions).
    public let blockBytes: Int
    /// Most blocks the budget allows.
    public let maxBlocks: Int
    var storage: [UnsafeMutableRawPointer?] = []
    var refs: [Int32] = []
    var freeIds: [Int32] = []
    var inUse = 0
    struct Sequence { var table: [Int32] = []; var length = 0 }
    var sequences: [Int: Sequence] = [:]
    var nextSequence = 0

    var rowBytes: Int { kvWidth * (type == .f16 ? 2 : 4) }
    var layerBytes: Int { 2 * Self.blockSize * rowBytes }

    /// A cache for `layers` layers of `kvWidth` values per position, within `budget` bytes.
    public init(layers: Int, kvWidth: Int, type: KVCacheType, budget: Int) {
        self.layers = layers
        self.kvWidth = kvWidth
        self.type = type
        blockBytes = layers * 2 * Self.blockSize * kvWidth * (type == .f16 ? 2 : 4)
        maxBlocks = max(1, budget / max(blockBytes, 1))
    }

    deinit { for p in storage { p?.deallocate() } }

    /// The default budget: a quarter of the machine's memory, at most 8 GiB.
    public static var defaultBudget: Int { Int(min(Double(ProcessInfo.processInfo.physicalMemory) / 4, 8 * 1073741824)) }

    // MARK: - Sequences

    /// A new empty sequence.
    public func create() -> Int {
        let id = nextSequence
        nextSequence += 1
        sequences[id] = Sequence()
        return id
    }

    /// A new sequence holding the first `length` positions of `source`, sharing its blocks.
    public func fork(_ source: Int, length: Int) -> Int {
        let s = sequences[source]!
        precondition(length <= s.length, "fork: \(length) positions of a sequence of \(s.length)")
        let id = create()
        let table = Array(s.table.prefix((length + Self.blockSize - 1) >> Self.blockShift))
        for b in table { refs[Int(b)] += 1 }
        sequences[id] = Sequence(table: table, length: length)
        return id
    }

    /// Frees a sequence's blocks (those no other sequence shares).
    public func release(_ id: Int) {
        guard let s = sequences.removeValue(forKey: id) else { return }
        for b in s.table { decref(b) }
    }

    /// Keeps the first `length` positions of a sequence and frees the blocks past them.
    public func truncate(_ id: Int, to length: Int) {
        guard var s = sequences[id] else { return }
        precondition(length >= 0 && length <= s.length)
        let keep = (length + Self.blockSize - 1) >> Self.blockShift
        for b in s.table[keep...] { decref(b) }
        s.table.removeLast(s.table.count - keep)
        s.length = length
        sequences[id] = s
    }

    /// Positions a sequence holds.
    public func length(_ id: Int) -> Int { sequences[id]?.length ?? 0 }

    /// Makes positions length ..< length + n writable for every (sequence, n): allocates blocks and copies
    /// shared ones about to be written. Throws, changing nothing, when the budget would be passed.
    public func reserve(_ requests: [(sequence: Int, count: Int)]) throws {
        var needed = 0
        for (id, n) in requests where n > 0 {
            let s = sequences[id]!
            let last = (s.length + n - 1) >> Self.blockShift
            needed += max(0, last + 1 - s.table.count)
            // The block holding the first new position is copied if it is shared.
            if s.length & (Self.blockSize - 1) != 0, refs[Int(s.table[s.length >> Self.blockShift])] > 1 { needed += 1 }
        }
        guard inUse + needed <= maxBlocks else {
            throw ForgeError(String(format: "the key/value cache is full: %d more blocks of %.1f MiB needed, %d of %d in use "
                                    + "(%.2f GiB budget); end some sequences or raise the cache memory", needed,
                                    Double(blockBytes) / 1048576, inUse, maxBlocks, Double(maxBlocks * blockBytes) / 1073741824))
        }
        for (id, n) in requests where n > 0 {
            var s = sequences[id]!
            if s.length & (Self.blockSize - 1) != 0 {
                let i = s.length >> Self.blockShift, b = s.table[i]
                if refs[Int(b)] > 1 {
                    let copy = allocate()
                    storage[Int(copy)]!.copyMemory(from: storage[Int(b)]!, byteCount: blockBytes)
                    decref(b)
                    s.table[i] = copy
                }
            }
            let last = (s.length + n - 1) >> Self.blockShift
            while s.table.count <= last { s.table.append(allocate()) }
            sequences[id] = s
        }
    }

    /// Records that `count` new positions of a sequence were written.
    public func advance(_ id: Int, by count: Int) {
        sequences[id]!.length += count
    }

    func allocate() -> Int32 {
        inUse += 1
        if let id = freeIds.popLast() {
            storage[Int(id)] = .allocate(byteCount: blockBytes, alignment: 64)
            refs[Int(id)] = 1
            return id
        }
        storage.append(.allocate(byteCount: blockBytes, alignment: 64))
        refs.append(1)
        return Int32(storage.count - 1)
    }

    func decref(_ b: Int32) {
        refs[Int(b)] -= 1
        guard refs[Int(b)] == 0 else { return }
        storage[Int(b)]!.deallocate()
        storage[Int(b)] = nil
        freeIds.append(b)
        inUse -= 1
    }

    /// Blocks and bytes in use.
    public var usage: KVCacheUsage {
        KVCacheUsage(blocks: inUse, sharedBlocks: refs.indices.filter { storage[$0] != nil && refs[$0] > 1 }.count,
                     bytes: inUse * blockBytes, budget: maxBlocks * blockBytes,
                     positions: sequences.values.reduce(0) { $0 + $1.length })
    }

    /// Whether two sequences share the block holding `position` (for tests).
    public func sharesBlock(_ a: Int, _ b: Int, at position: Int) -> Bool {
        let i = position >> Self.blockShift
        guard let x = sequences[a]?.table, let y = sequences[b]?.table, i < x.count, i < y.count else { return false }
        return x[i] == y[i]
    }

    // MARK: - Attention

    public func decodeRows(batch: ForwardBatch) -> PagedDecodeRows? {
        guard batch.count == 1, let table = sequences[batch.segments[0].sequence]?.table else { return nil }
        let pointers = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: max(1, table.count))
        for (i, b) in table.enumerated() { pointers[i] = storage[Int(b)]! }
        return PagedDecodeRows(blocks: pointers, count: table.count, shift: Self.blockShift, layerBytes: layerBytes,
                               valueOffset: Self.blockSize * rowBytes, rowBytes: rowBytes, half: type == .f16)
    }

    public func attend(layer: Int, batch: ForwardBatch, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                       out: UnsafeMutablePointer<Float>, shape: CacheAttentionShape) {
        precondition(shape.kvHeads * shape.headDim == kvWidth, "attention shape does not fit the cache")
        let keyOffset = layer * layerBytes, valueOffset = keyOffset + Self.blockSize * rowBytes
        // Block base pointers of every sequence in the batch, in one buffer kept for the call.
        let tables = batch.segments.map { sequences[$0.sequence]!.table }
        let pointers = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: max(1, tables.reduce(0) { $0 + $1.count }))
        defer { pointers.deallocate() }
        var runs: [PagedRun] = []
        var at = 0
        for (segment, table) in zip(batch.segments, tables) {
            for (i, b) in table.enumerated() { pointers[at + i] = storage[Int(b)]! }
            let rows = PagedRows(blocks: pointers + at, shift: Self.blockShift, keyOffset: keyOffset, valueOffset: valueOffset,
                                 rowBytes: rowBytes)
            at += table.count
            let first = batch.positions[segment.start]
            for r in segment.start..<(segment.start + segment.count) {
                PagedAttention.store(k + r * kvWidth, v + r * kvWidth, width: kvWidth, at: batch.positions[r], in: rows, half: type == .f16)
            }
            runs.append(PagedRun(rows: segment.start..<(segment.start + segment.count), first: first, cache: rows))
        }
        PagedAttention.forward(q: q, out: out, runs: runs, half: type == .f16, heads: shape.heads, kvHeads: shape.kvHeads,
                               headDim: shape.headDim, scale: shape.scale, window: shape.window, exact: shape.exact)
    }
}
