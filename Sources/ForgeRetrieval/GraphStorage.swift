// GraphStorage: the plain memory under HNSWIndex (rows that grow by doubling, visited marks, a slot heap).
//
// The index keeps raw pointers to these so its search loop does no reference counting or bounds checks;
// nothing here is public.
import Synchronization

/// Rows of `stride` elements in one allocation that grows by doubling (vectors, links, flags, ids).
final class RowStorage<Element: BitwiseCopyable> {
    let stride: Int
    private let fill: Element
    private(set) var capacity = 0
    private(set) var base: UnsafeMutablePointer<Element>

    init(stride: Int, fill: Element) {
        self.stride = stride
        self.fill = fill
        base = .allocate(capacity: 0)
    }

    deinit { base.deallocate() }

    @inline(__always) func row(_ i: Int) -> UnsafeMutablePointer<Element> { base + i * stride }

    /// Makes room for `rows` rows, keeping the existing ones; new rows hold `fill`.
    func reserve(_ rows: Int) {
        guard rows > capacity else { return }
        let newCapacity = max(rows, capacity * 2, 64)
        let grown = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity * stride)
        grown.update(from: base, count: capacity * stride)
        (grown + capacity * stride).initialize(repeating: fill, count: (newCapacity - capacity) * stride)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }
}

/// Per-slot "seen in this search" marks, cleared in O(1) by bumping a generation counter.
final class VisitedTable: @unchecked Sendable {
    private var marks: UnsafeMutablePointer<UInt16>
    private(set) var capacity: Int
    private var generation: UInt16 = 1

    init(capacity: Int) {
        self.capacity = capacity
        marks = .allocate(capacity: max(capacity, 1))
        marks.initialize(repeating: 0, count: max(capacity, 1))
    }

    deinit { marks.deallocate() }

    /// Starts a new search.
    func clear() {
        generation &+= 1
        if generation == 0 {
            marks.update(repeating: 0, count: max(capacity, 1))
            generation = 1
        }
    }

    /// True if `slot` was already seen in this search; marks it seen.
    @inline(__always) func testAndSet(_ slot: UInt32) -> Bool {
        let p = marks + Int(slot)
        if p.pointee == generation { return true }
        p.pointee = generation
        return false
    }
}

/// Tables reused across searches, so concurrent searches each get their own without allocating.
final class VisitedPool: Sendable {
    private let tables = Mutex<[VisitedTable]>([])

    func take(capacity: Int) -> VisitedTable {
        let table = tables.withLock { $0.popLast() }
        if let table, table.capacity >= capacity {
            table.clear()
            return table
        }
        return VisitedTable(capacity: capacity + capacity / 4 + 64)
    }

    func give(_ table: VisitedTable) { tables.withLock { $0.append(table) } }
}

/// A binary min-heap of (key, slot); the search keeps candidates under −score and results under score.
struct SlotHeap {
    struct Element {
        var key: Float
        var slot: UInt32
    }

    private(set) var elements: [Element] = []

    init(capacity: Int) { elements.reserveCapacity(capacity) }

    var count: Int { elements.count }
    var isEmpty: Bool { elements.isEmpty }
    @inline(__always) var top: Element { elements[0] }

    @inline(__always) mutating func push(_ key: Float, _ slot: UInt32) {
        elements.append(Element(key: key, slot: slot))
        var i = elements.count - 1
        while i > 0 {
            let parent = (i - 1) >> 1
            guard elements[parent].key > elements[i].key else { break }
            elements.swapAt(parent, i)
            i = parent
        }
    }

    @inline(__always) @discardableResult mutating func pop() -> Element {
        let first = elements[0]
        let last = elements.removeLast()
        if !elements.isEmpty {
            elements[0] = last
            var i = 0
            let n = elements.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < n && elements[l].key < elements[m].key { m = l }
                if r < n && elements[r].key < elements[m].key { m = r }
                if m == i { break }
                elements.swapAt(i, m)
                i = m
            }
        }
        return first
    }
}
