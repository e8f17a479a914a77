// HNSWIndex: approximate nearest neighbours on a Hierarchical Navigable Small World graph
// (Malkov & Yashunin, 2016, arXiv:1603.09320), by inner product on L2-normalized vectors.
//
// Nodes live in slots. Each node has a level drawn from a seeded RNG (P(level ≥ l) = M^−l); on every layer up
// to its level it keeps links chosen by the paper's heuristic (Algorithm 4: a candidate is kept only if it is
// closer to the node than to every neighbour kept before it), at most M per layer and 2M on layer 0.
// A search descends greedily from the entry point, then explores layer 0 best-first with a list of `ef` nodes.
//
// Deletion (HNSWDeletion.swift): `remove` tombstones a node, which is never returned again but still routes
// searches; `consolidate` then repairs every link that pointed to a tombstone (the live neighbours of the node
// and of its removed neighbours compete under the same heuristic, as in FreshDiskANN) and frees the slots for
// reuse. Repair instead of periodic rebuilds: a store deleting one document touches only its neighbourhood.
//
// Not thread-safe for writes: `add`, `remove` and `consolidate` need exclusive access; searches may run together.
import ForgeCore
import Foundation

/// A Hierarchical Navigable Small World graph over Float32 vectors, scored by inner product.
public final class HNSWIndex {
    /// Graph parameters: links per node (M), candidate list sizes at build and search, and the level seed.
    public struct Parameters: Codable, Sendable, Equatable {
        public var m: Int
        public var efConstruction: Int
        public var efSearch: Int
        public var seed: UInt64

        public init(m: Int = 16, efConstruction: Int = 200, efSearch: Int = 64, seed: UInt64 = 42) {
            self.m = m
            self.efConstruction = efConstruction
            self.efSearch = efSearch
            self.seed = seed
        }
    }

    public let dimension: Int
    public let parameters: Parameters
    /// The default candidate list size of a search (at least k is always used).
    public var efSearch: Int
    /// Live nodes (tombstones excluded).
    public internal(set) var count = 0
    /// Removed nodes still in the graph until `consolidate`.
    public internal(set) var tombstoneCount = 0

    static let live: UInt8 = 0, tombstone: UInt8 = 1, free: UInt8 = 2

    // Per slot: vector, id, flag, level, level-0 links (count, then up to 2M slots), first upper-layer row.
    let vectors: RowStorage<Float>
    let ids = RowStorage<Int64>(stride: 1, fill: 0)
    let flags = RowStorage<UInt8>(stride: 1, fill: HNSWIndex.free)
    let baseLinks: RowStorage<UInt32>
    /// Layers 1...level of a node are rows upperStart[slot] ..< upperStart[slot] + level (count, then up to M slots).
    let upperLinks: RowStorage<UInt32>
    var levels: [Int8] = []
    var upperStart: [Int32] = []
    var upperRowCount = 0
    var slotCount = 0
    var freeSlots: [UInt32] = []
    var slotOfID: [Int64: UInt32] = [:]
    var entry: UInt32?
    var maxLevel = -1
    var rng: RNG
    /// Slots whose node or links changed since `startRecording`, for the store to persist.
    var changedSlots: Set<UInt32>?
    let visitedPool = VisitedPool()

    /// An empty index for vectors of `dimension` floats.
    public init(dimension: Int, parameters: Parameters = Parameters()) throws {
        guard dimension > 0 else { throw ForgeError("HNSW index: dimension must be positive, got \(dimension)") }
        guard parameters.m >= 2, parameters.efConstruction >= 1, parameters.efSearch >= 1 else {
            throw ForgeError("HNSW index: need M ≥ 2 and ef ≥ 1, got M \(parameters.m), efConstruction "
                + "\(parameters.efConstruction), efSearch \(parameters.efSearch)")
        }
        self.dimension = dimension
        self.parameters = parameters
        efSearch = parameters.efSearch
        rng = RNG(seed: parameters.seed)
        vectors = RowStorage(stride: dimension, fill: 0)
        baseLinks = RowStorage(stride: 1 + 2 * parameters.m, fill: 0)
        upperLinks = RowStorage(stride: 1 + parameters.m, fill: 0)
    }

    /// Whether `id` is a live node.
    public func contains(_ id: Int64) -> Bool {
        guard let slot = slotOfID[id] else { return false }
        return flags.base[Int(slot)] == HNSWIndex.live
    }

    // MARK: - Adding

    /// Inserts a vector under a new id (an id already present, even as a tombstone, is an error).
    public func add(id: Int64, vector: [Float]) throws {
        guard vector.count == dimension else {
            throw ForgeError("HNSW index: vector has \(vector.count) floats, the index holds dimension \(dimension)")
        }
        guard slotOfID[id] == nil else { throw ForgeError("HNSW index: id \(id) is already in the index") }
        let level = drawLevel()
        let slot = takeSlot(level: level)
        vector.withUnsafeBufferPointer { vectors.row(Int(slot)).update(from: $0.baseAddress!, count: dimension) }
        ids.base[Int(slot)] = id
        flags.base[Int(slot)] = HNSWIndex.live
        slotOfID[id] = slot
        count += 1
        markChanged(slot)
        link(slot, level: level)
    }

    /// Level of a new node: ⌊−ln(U)·mL⌋ with mL = 1/ln M.
    private func drawLevel() -> Int {
        let u = 1 - rng.uniform()  // (0, 1]
        return min(Int(-Foundation.log(u) / Foundation.log(Double(parameters.m))), 32)
    }

    private func takeSlot(level: Int) -> UInt32 {
        let slot: Int
        if let reused = freeSlots.popLast() {
            slot = Int(reused)
        } else {
            slot = slotCount
            slotCount += 1
            vectors.reserve(slotCount)
            ids.reserve(slotCount)
            flags.reserve(slotCount)
            baseLinks.reserve(slotCount)
            levels.append(0)
            upperStart.append(-1)
        }
        levels[slot] = Int8(level)
        baseLinks.row(slot)[0] = 0
        if level > 0 {
            upperStart[slot] = Int32(upperRowCount)
            upperRowCount += level
            upperLinks.reserve(upperRowCount)
            for l in 1...level { links(UInt32(slot), l)[0] = 0 }
        } else {
            upperStart[slot] = -1
        }
        return UInt32(slot)
    }

    /// Connects a stored node to the graph: greedy descent to its level, then ef-search and heuristic links per layer.
    func link(_ slot: UInt32, level: Int) {
        let q = UnsafePointer(vectors.row(Int(slot)))
        guard let start = entry, count > 1 else {  // the first live node (tombstones alone are not linked to)
            entry = slot
            maxLevel = level
            return
        }
        var current = start
        var currentScore = innerProduct(q, vectors.row(Int(start)), dimension)
        var l = maxLevel
        while l > level {
            greedy(q, &current, &currentScore, level: l)
            l -= 1
        }
        let visited = visitedPool.take(capacity: slotCount)
        defer { visitedPool.give(visited) }
        for layer in stride(from: min(level, maxLevel), through: 0, by: -1) {
            let found = searchLayer(q, from: (currentScore, current), ef: parameters.efConstruction, level: layer,
                                    visited: visited)
            let candidates = found.elements.map { (score: $0.key, slot: $0.slot) }.sorted { $0.score > $1.score }
            let chosen = selectNeighbours(candidates, max: parameters.m)
            setLinks(slot, layer, chosen.map(\.slot))
            for neighbour in chosen { connect(neighbour.slot, to: slot, score: neighbour.score, level: layer) }
            if let best = candidates.first { (currentScore, current) = best }
        }
        if level > maxLevel {
            entry = slot
            maxLevel = level
        }
    }

    /// Adds `new` to `slot`'s links on `level`, re-choosing them by the heuristic when the list is full.
    private func connect(_ slot: UInt32, to new: UInt32, score: Float, level: Int) {
        let row = links(slot, level)
        let n = Int(row[0])
        if n < maxLinks(level) {
            row[1 + n] = new
            row[0] += 1
        } else {
            let v = vectors.row(Int(slot))
            var candidates = [(score: score, slot: new)]
            for j in 1...n { candidates.append((innerProduct(v, vectors.row(Int(row[j])), dimension), row[j])) }
            candidates.sort { $0.score > $1.score }
            setLinks(slot, level, selectNeighbours(candidates, max: maxLinks(level)).map(\.slot))
        }
        markChanged(slot)
    }

    /// The paper's heuristic over candidates sorted best first: keep c unless a kept node is closer to c than the base is.
    func selectNeighbours(_ candidates: [(score: Float, slot: UInt32)], max m: Int) -> [(score: Float, slot: UInt32)] {
        if candidates.count <= m { return candidates }
        var chosen: [(score: Float, slot: UInt32)] = []
        chosen.reserveCapacity(m)
        for c in candidates {
            let v = vectors.row(Int(c.slot))
            var keep = true
            for s in chosen where innerProduct(v, vectors.row(Int(s.slot)), dimension) > c.score {
                keep = false
                break
            }
            if keep {
                chosen.append(c)
                if chosen.count == m { break }
            }
        }
        return chosen
    }

    @inline(__always) func maxLinks(_ level: Int) -> Int { level == 0 ? 2 * parameters.m : parameters.m }

    /// The link row of `slot` on `level`: element 0 is the count, then the neighbour slots.
    @inline(__always) func links(_ slot: UInt32, _ level: Int) -> UnsafeMutablePointer<UInt32> {
        level == 0 ? baseLinks.row(Int(slot)) : upperLinks.row(Int(upperStart[Int(slot)]) + level - 1)
    }

    func setLinks(_ slot: UInt32, _ level: Int, _ neighbours: [UInt32]) {
        let row = links(slot, level)
        row[0] = UInt32(neighbours.count)
        for (j, n) in neighbours.enumerated() { row[1 + j] = n }
    }

    @inline(__always) func markChanged(_ slot: UInt32) { changedSlots?.insert(slot) }

    // MARK: - Searching

    /// The k live nodes closest to `query` by inner product, best first (ties by id); `ef` defaults to `efSearch`.
    public func search(_ query: [Float], k: Int, ef: Int? = nil) throws -> [SearchHit] {
        try search(batch: query, k: k, ef: ef)[0]
    }

    /// `search` for each of the m queries in `queries` (m×d, row-major), spread over the workers.
    public func search(batch queries: [Float], k: Int, ef: Int? = nil) throws -> [[SearchHit]] {
        guard !queries.isEmpty, queries.count % dimension == 0 else {
            throw ForgeError("HNSW index: \(queries.count) query floats are not rows of dimension \(dimension)")
        }
        let m = queries.count / dimension
        let width = max(ef ?? efSearch, k)
        var results = [[SearchHit]](repeating: [], count: m)
        queries.withUnsafeBufferPointer { q in
            results.withUnsafeMutableBufferPointer { out in
                Parallel.forEach(m, grain: 4) { range in
                    for j in range { out[j] = searchOne(q.baseAddress! + j * dimension, k: k, ef: width) }
                }
            }
        }
        return results
    }

    /// Brute force over the live nodes (the reference, and the faster path for small indexes).
    public func exactSearch(_ query: [Float], k: Int) throws -> [SearchHit] {
        guard query.count == dimension else {
            throw ForgeError("HNSW index: query has \(query.count) floats, the index holds dimension \(dimension)")
        }
        return query.withUnsafeBufferPointer { q in
            ExactSearch.topK(queries: q, matrix: vectors.base, rows: slotCount, dimension: dimension,
                             ids: ids.base, skip: flags.base, k: k)[0]
        }
    }

    private func searchOne(_ q: UnsafePointer<Float>, k: Int, ef: Int) -> [SearchHit] {
        guard let start = entry, k > 0, count > 0 else { return [] }
        var current = start
        var currentScore = innerProduct(q, vectors.row(Int(start)), dimension)
        var l = maxLevel
        while l > 0 {
            greedy(q, &current, &currentScore, level: l)
            l -= 1
        }
        let visited = visitedPool.take(capacity: slotCount)
        defer { visitedPool.give(visited) }
        let found = searchLayer(q, from: (currentScore, current), ef: ef, level: 0, visited: visited)
        var top = TopK(k)
        for e in found.elements { top.insert(id: ids.base[Int(e.slot)], score: e.key) }
        return top.sorted()
    }

    /// Moves to a better neighbour on `level` until none is better (tombstones route too).
    func greedy(_ q: UnsafePointer<Float>, _ current: inout UInt32, _ score: inout Float, level: Int) {
        var changed = true
        while changed {
            changed = false
            let row = links(current, level)
            for j in 0..<Int(row[0]) {
                let n = row[1 + j]
                let s = innerProduct(q, vectors.row(Int(n)), dimension)
                if s > score {
                    score = s
                    current = n
                    changed = true
                }
            }
        }
    }

    /// Best-first search of one layer (Algorithm 2): up to `ef` live nodes, as a min-heap of score.
    /// Tombstones are explored but never kept.
    func searchLayer(_ q: UnsafePointer<Float>, from start: (score: Float, slot: UInt32), ef: Int, level: Int,
                     visited: VisitedTable) -> SlotHeap {
        visited.clear()
        let flag = flags.base, vectorBase = vectors.base, d = dimension
        var candidates = SlotHeap(capacity: 4 * ef)  // key −score: the best candidate on top
        var results = SlotHeap(capacity: ef + 1)     // key score: the worst kept on top
        _ = visited.testAndSet(start.slot)
        candidates.push(-start.score, start.slot)
        var bound = -Float.infinity
        if flag[Int(start.slot)] == HNSWIndex.live {
            results.push(start.score, start.slot)
            bound = start.score
        }
        while !candidates.isEmpty {
            let best = candidates.top
            if -best.key < bound && results.count >= ef { break }
            candidates.pop()
            let row = links(best.slot, level)
            for j in 0..<Int(row[0]) {
                let n = row[1 + j]
                if visited.testAndSet(n) { continue }
                let s = innerProduct(q, vectorBase + Int(n) * d, d)
                if results.count < ef || s > bound {
                    candidates.push(-s, n)
                    if flag[Int(n)] == HNSWIndex.live {
                        results.push(s, n)
                        if results.count > ef { results.pop() }
                        bound = results.top.key
                    }
                }
            }
        }
        return results
    }
}
