// TopK: the k best (id, score) pairs of a stream, in a binary heap whose root is the worst kept.
//
// "Better" is a higher score, then a lower id, so the selection and its order are total and deterministic.

/// A search result: the id of a stored vector and its inner product with the query.
public typealias SearchHit = (id: Int64, score: Float)

/// Bounded selection of the k best hits (score descending, ties by ascending id).
struct TopK {
    let k: Int
    private(set) var heap: [SearchHit] = []

    init(_ k: Int) {
        self.k = max(k, 0)
        heap.reserveCapacity(self.k)
    }

    @inline(__always) static func better(_ a: SearchHit, _ b: SearchHit) -> Bool {
        a.score > b.score || (a.score == b.score && a.id < b.id)
    }

    /// The score a new hit must reach to be considered (−∞ until k hits are kept).
    @inline(__always) var threshold: Float { heap.count < k ? -.infinity : heap[0].score }

    @inline(__always) mutating func insert(id: Int64, score: Float) {
        guard k > 0, score >= threshold else { return }  // NaN fails too
        let hit: SearchHit = (id, score)
        if heap.count < k {
            heap.append(hit)
            var i = heap.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard TopK.better(heap[parent], heap[i]) else { break }
                heap.swapAt(parent, i)
                i = parent
            }
        } else if TopK.better(hit, heap[0]) {
            heap[0] = hit
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var worst = i
                if l < heap.count && TopK.better(heap[worst], heap[l]) { worst = l }
                if r < heap.count && TopK.better(heap[worst], heap[r]) { worst = r }
                if worst == i { break }
                heap.swapAt(i, worst)
                i = worst
            }
        }
    }

    mutating func merge(_ other: TopK) {
        for hit in other.heap { insert(id: hit.id, score: hit.score) }
    }

    /// The kept hits, best first.
    func sorted() -> [SearchHit] { heap.sorted(by: TopK.better) }
}
