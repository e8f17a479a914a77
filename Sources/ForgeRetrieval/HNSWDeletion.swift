// HNSWDeletion: tombstones, and the repair that takes them out of the graph.
//
// `remove` is O(1): the node stops being returned but keeps routing searches, so recall holds between repairs.
// `consolidate` gives every live node that links to a tombstone new links, chosen by the insertion heuristic from
// its live neighbours and the live neighbours of its removed ones (FreshDiskANN's delete consolidation); a node
// left with fewer than M candidates also takes those of a fresh layer search. The tombstones' slots are then free.
import ForgeCore

extension HNSWIndex {
    /// Tombstones `id`: never returned again; its links are repaired by `consolidate`. False if it was not live.
    @discardableResult
    public func remove(id: Int64) -> Bool {
        guard let slot = slotOfID[id], flags.base[Int(slot)] == HNSWIndex.live else { return false }
        flags.base[Int(slot)] = HNSWIndex.tombstone
        count -= 1
        tombstoneCount += 1
        markChanged(slot)
        return true
    }

    /// Repairs the links around every tombstone and frees their slots for new nodes.
    public func consolidate() {
        guard tombstoneCount > 0 else { return }
        if count > 0 {
            let seen = visitedPool.take(capacity: slotCount), search = visitedPool.take(capacity: slotCount)
            defer { visitedPool.give(seen); visitedPool.give(search) }
            for slot in 0..<UInt32(slotCount) where flags.base[Int(slot)] == HNSWIndex.live {
                for level in 0...Int(levels[Int(slot)]) { repair(slot, level: level, seen: seen, search: search) }
            }
        }
        for slot in 0..<slotCount where flags.base[slot] == HNSWIndex.tombstone {
            flags.base[slot] = HNSWIndex.free
            slotOfID[ids.base[slot]] = nil
            freeSlots.append(UInt32(slot))
            levels[slot] = -1
            markChanged(UInt32(slot))
        }
        // Highest slot first out of the free list: the lowest are reused first, keeping the slot range dense.
        freeSlots.sort(by: >)
        tombstoneCount = 0
        if let e = entry, flags.base[Int(e)] != HNSWIndex.live { chooseEntry() }
    }

    /// New links for `slot` on `level` if any of its neighbours is a tombstone.
    private func repair(_ slot: UInt32, level: Int, seen: VisitedTable, search: VisitedTable) {
        let row = links(slot, level)
        let n = Int(row[0])
        guard (0..<n).contains(where: { flags.base[Int(row[1 + $0])] != HNSWIndex.live }) else { return }
        let v = UnsafePointer(vectors.row(Int(slot)))
        seen.clear()
        _ = seen.testAndSet(slot)
        var candidates: [(score: Float, slot: UInt32)] = []
        func consider(_ c: UInt32) {
            if flags.base[Int(c)] == HNSWIndex.live && !seen.testAndSet(c) {
                candidates.append((innerProduct(v, vectors.row(Int(c)), dimension), c))
            }
        }
        for j in 0..<n {
            let neighbour = row[1 + j]
            if flags.base[Int(neighbour)] == HNSWIndex.live {
                consider(neighbour)
            } else {
                let second = links(neighbour, level)
                for i in 0..<Int(second[0]) { consider(second[1 + i]) }
            }
        }
        if candidates.count < parameters.m, let start = entry {
            var current = start
            var score = innerProduct(v, vectors.row(Int(start)), dimension)
            var l = maxLevel
            while l > level {
                greedy(v, &current, &score, level: l)
                l -= 1
            }
            let found = searchLayer(v, from: (score, current), ef: parameters.efConstruction, level: level,
                                    visited: search)
            for e in found.elements { consider(e.slot) }
        }
        candidates.sort { $0.score > $1.score }
        setLinks(slot, level, selectNeighbours(candidates, max: maxLinks(level)).map(\.slot))
        markChanged(slot)
    }

    /// The entry point after its node went: a live node of the highest level (the lowest slot among them).
    private func chooseEntry() {
        entry = nil
        maxLevel = -1
        for slot in 0..<slotCount where flags.base[slot] == HNSWIndex.live && Int(levels[slot]) > maxLevel {
            entry = UInt32(slot)
            maxLevel = Int(levels[slot])
        }
    }
}
