// ExactSearch: brute-force top-k by inner product over a flat row-major n×d Float32 matrix.
//
// The reference every approximate search is measured against, and the search of small stores.
// Rows are scanned in blocks of ~16 KB so a batch of queries reuses each block from L1; one query
// spreads its rows over the workers, a batch spreads its queries.
import ForgeCore

/// Exact nearest neighbours by inner product (cosine on L2-normalized vectors).
public struct ExactSearch: Sendable {
    public let dimension: Int
    /// Row i of `vectors` is the vector of `ids[i]`.
    public private(set) var ids: [Int64]
    /// n×d, row-major.
    public private(set) var vectors: [Float]

    public var count: Int { ids.count }

    /// Wraps an n×d matrix; `ids` default to the row numbers 0..<n.
    public init(dimension: Int, vectors: [Float] = [], ids: [Int64]? = nil) throws {
        guard dimension > 0 else { throw ForgeError("exact search: dimension must be positive, got \(dimension)") }
        guard vectors.count % dimension == 0 else {
            throw ForgeError("exact search: \(vectors.count) floats are not rows of dimension \(dimension)")
        }
        let n = vectors.count / dimension
        if let ids, ids.count != n {
            throw ForgeError("exact search: \(ids.count) ids for \(n) vectors")
        }
        self.dimension = dimension
        self.vectors = vectors
        self.ids = ids ?? (0..<Int64(n)).map { $0 }
    }

    /// Appends one vector.
    public mutating func add(id: Int64, vector: [Float]) throws {
        try checkDimension(vector.count, "vector")
        ids.append(id)
        vectors += vector
    }

    /// The k rows with the largest inner product with `query`, best first (ties by id).
    public func search(_ query: [Float], k: Int) throws -> [SearchHit] {
        try search(batch: query, k: k)[0]
    }

    /// Top-k for each of the m queries in `queries` (m×d, row-major).
    public func search(batch queries: [Float], k: Int) throws -> [[SearchHit]] {
        guard !queries.isEmpty, queries.count % dimension == 0 else {
            throw ForgeError("exact search: \(queries.count) query floats are not rows of dimension \(dimension)")
        }
        return queries.withUnsafeBufferPointer { q in
            vectors.withUnsafeBufferPointer { v in
                ids.withUnsafeBufferPointer { i in
                    ExactSearch.topK(queries: q, matrix: v.baseAddress, rows: count, dimension: dimension,
                                     ids: i.baseAddress, skip: nil, k: k)
                }
            }
        }
    }

    private func checkDimension(_ n: Int, _ what: String) throws {
        guard n == dimension else {
            throw ForgeError("exact search: \(what) has \(n) floats, the index holds dimension \(dimension)")
        }
    }
}

extension ExactSearch {
    /// Top-k of every query over `rows` rows; a row r with `skip[r] != 0` is never returned.
    static func topK(queries: UnsafeBufferPointer<Float>, matrix: UnsafePointer<Float>?, rows: Int, dimension: Int,
                     ids: UnsafePointer<Int64>?, skip: UnsafePointer<UInt8>?, k: Int) -> [[SearchHit]] {
        let m = queries.count / dimension
        guard let matrix, let ids, rows > 0, k > 0 else { return Array(repeating: [], count: m) }
        let q = queries.baseAddress!
        var results = [[SearchHit]](repeating: [], count: m)
        if m >= 2 * Parallel.threads {
            // A batch: each worker takes whole queries.
            results.withUnsafeMutableBufferPointer { out in
                Parallel.forEach(m) { range in
                    var tops = range.map { _ in TopK(k) }
                    scan(q + range.lowerBound * dimension, tops: &tops, matrix: matrix, rows: 0..<rows,
                         dimension: dimension, ids: ids, skip: skip)
                    for (j, top) in zip(range, tops) { out[j] = top.sorted() }
                }
            }
        } else {
            // Few queries: the rows are split over the workers and the partial top-k merged.
            let parts = min(Parallel.threads, max(1, rows * dimension / (1 << 18)))
            let partials = UnsafeMutableBufferPointer<[TopK]>.allocate(capacity: parts)
            partials.initialize(repeating: [])
            defer { partials.deinitialize(); partials.deallocate() }
            Parallel.forEachTask(parts) { p in
                var tops = (0..<m).map { _ in TopK(k) }
                scan(q, tops: &tops, matrix: matrix, rows: rows * p / parts..<rows * (p + 1) / parts,
                     dimension: dimension, ids: ids, skip: skip)
                partials[p] = tops
            }
            for j in 0..<m {
                var top = TopK(k)
                for p in 0..<parts { top.merge(partials[p][j]) }
                results[j] = top.sorted()
            }
        }
        return results
    }

    /// Scores `rows` against each query in `tops.count` consecutive queries, one ~16 KB block of rows at a time.
    private static func scan(_ queries: UnsafePointer<Float>, tops: inout [TopK], matrix: UnsafePointer<Float>,
                             rows: Range<Int>, dimension: Int, ids: UnsafePointer<Int64>, skip: UnsafePointer<UInt8>?) {
        let block = max(1, 4096 / dimension)
        var start = rows.lowerBound
        while start < rows.upperBound {
            let end = min(start + block, rows.upperBound)
            for j in tops.indices {
                let query = queries + j * dimension
                var threshold = tops[j].threshold
                for r in start..<end {
                    let score = innerProduct(query, matrix + r * dimension, dimension)
                    if score >= threshold, skip?[r] ?? 0 == 0 {
                        tops[j].insert(id: ids[r], score: score)
                        threshold = tops[j].threshold
                    }
                }
            }
            start = end
        }
    }
}
