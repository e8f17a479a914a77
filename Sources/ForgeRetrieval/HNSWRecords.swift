// HNSWRecords: the graph as rows, so a store reopens without rebuilding it.
//
// A node is (slot, id, level, links); links hold, for each layer 0...level, a little-endian UInt32 count and then
// that many neighbour slots. The rest of the graph is its entry point, top level and the level RNG's state.
// Writers record the slots they change (`startRecording`), and only those rows are rewritten.
import ForgeCore
import Foundation

extension HNSWIndex {
    /// One node as stored.
    struct NodeRecord {
        var slot: UInt32
        var id: Int64
        var level: Int
        var links: Data
        var vector: [Float]
    }

    /// Everything but the nodes.
    struct GraphState: Equatable {
        var entry: UInt32?
        var maxLevel: Int
        var rng: RNG
    }

    func startRecording() { changedSlots = [] }

    /// The slots changed since `startRecording`, and stops recording.
    func stopRecording() -> Set<UInt32> {
        defer { changedSlots = nil }
        return changedSlots ?? []
    }

    var state: GraphState { GraphState(entry: entry, maxLevel: maxLevel, rng: rng) }

    /// The node in `slot`, or nil if the slot is free. Tombstones are not stored: the store consolidates first.
    func record(slot: UInt32) -> NodeRecord? {
        let s = Int(slot)
        guard s < slotCount, flags.base[s] == HNSWIndex.live else { return nil }
        var blob = Data()
        for level in 0...Int(levels[s]) {
            let row = links(slot, level)
            for j in 0...Int(row[0]) { withUnsafeBytes(of: row[j].littleEndian) { blob.append(contentsOf: $0) } }
        }
        let vector = Array(UnsafeBufferPointer(start: vectors.row(s), count: dimension))
        return NodeRecord(slot: slot, id: ids.base[s], level: Int(levels[s]), links: blob, vector: vector)
    }

    /// An index from stored nodes and state; `describe` names the source in errors (links out of range, a bad entry).
    convenience init(dimension: Int, parameters: Parameters, state: GraphState, nodes: [NodeRecord],
                     source describe: String) throws {
        try self.init(dimension: dimension, parameters: parameters)
        let top = Int(nodes.map(\.slot).max().map { $0 + 1 } ?? 0)
        slotCount = top
        vectors.reserve(top)
        ids.reserve(top)
        flags.reserve(top)
        baseLinks.reserve(top)
        levels = Array(repeating: -1, count: top)
        upperStart = Array(repeating: -1, count: top)
        for node in nodes {
            let s = Int(node.slot)
            guard node.vector.count == dimension, (0...32).contains(node.level), levels[s] == -1 else {
                throw ForgeError("\(describe): graph node \(node.slot) (chunk \(node.id)) is malformed")
            }
            node.vector.withUnsafeBufferPointer { vectors.row(s).update(from: $0.baseAddress!, count: dimension) }
            ids.base[s] = node.id
            flags.base[s] = HNSWIndex.live
            slotOfID[node.id] = node.slot
            levels[s] = Int8(node.level)
            if node.level > 0 {
                upperStart[s] = Int32(upperRowCount)
                upperRowCount += node.level
            }
        }
        upperLinks.reserve(upperRowCount)
        for node in nodes { try decodeLinks(node, source: describe) }
        freeSlots = (0..<UInt32(top)).filter { flags.base[Int($0)] != HNSWIndex.live }.reversed()
        count = nodes.count
        entry = state.entry
        maxLevel = state.maxLevel
        rng = state.rng
        let entryValid = state.entry.map { Int($0) < top && flags.base[Int($0)] == HNSWIndex.live
            && Int(levels[Int($0)]) == state.maxLevel } ?? nodes.isEmpty
        guard entryValid else { throw ForgeError("\(describe): the graph's entry point does not match its nodes") }
    }

    private func decodeLinks(_ node: NodeRecord, source describe: String) throws {
        let words = node.links.withUnsafeBytes { raw in
            (0..<raw.count / 4).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) }
        }
        var at = 0
        for level in 0...node.level {
            guard at < words.count, Int(words[at]) <= maxLinks(level), at + 1 + Int(words[at]) <= words.count else {
                throw ForgeError("\(describe): graph node \(node.slot) has malformed links")
            }
            let neighbours = Array(words[(at + 1)..<(at + 1 + Int(words[at]))])
            for n in neighbours where Int(n) >= slotCount || levels[Int(n)] < level {
                throw ForgeError("\(describe): graph node \(node.slot) links to missing node \(n)")
            }
            setLinks(node.slot, level, neighbours)
            at += 1 + Int(words[at])
        }
        guard at == words.count else { throw ForgeError("\(describe): graph node \(node.slot) has malformed links") }
    }
}
