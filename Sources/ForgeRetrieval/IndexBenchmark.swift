// IndexBenchmark: HNSW against exact search on synthetic clustered embeddings (`forge bench index`).
//
// Builds an HNSWIndex over `count` vectors from ClusteredVectors, then runs `queries` held-out vectors of the same
// mixture through both searches one at a time and reports build time, median latencies and recall@k.
import ForgeCore
import Foundation

/// The HNSW-versus-exact benchmark.
public enum IndexBenchmark {
    /// What one run measured.
    public struct Report: Codable, Sendable, CustomStringConvertible {
        public var count: Int
        public var dimension: Int
        public var queries: Int
        public var k: Int
        public var ef: Int
        public var parameters: HNSWIndex.Parameters
        public var buildSeconds: Double
        /// Median latency of one query, microseconds.
        public var hnswMedianMicroseconds: Double
        public var exactMedianMicroseconds: Double
        /// Mean fraction of the exact top k that HNSW returned.
        public var recall: Double

        public var description: String {
            String(format: "%d vectors of dimension %d, M %d, efConstruction %d: built in %.1f s\n"
                + "%d queries, k %d: HNSW (ef %d) %.0f µs, exact %.0f µs median per query (%.1fx); recall@%d %.4f",
                count, dimension, parameters.m, parameters.efConstruction, buildSeconds, queries, k, ef,
                hnswMedianMicroseconds, exactMedianMicroseconds, exactMedianMicroseconds / hnswMedianMicroseconds,
                k, recall)
        }
    }

    /// Builds on `count` clustered vectors and times `queries` searches by HNSW and by exact search.
    /// `progress` is told (built, count) every 1% of the build.
    public static func run(count: Int, dimension: Int, queries: Int = 1000, k: Int = 10, ef: Int = 64, seed: UInt64 = 1,
                           parameters: HNSWIndex.Parameters = HNSWIndex.Parameters(),
                           progress: ((Int, Int) -> Void)? = nil) throws -> Report {
        guard count > 0, queries > 0, k > 0 else {
            throw ForgeError("bench index: count, queries and k must be positive")
        }
        let all = ClusteredVectors.generate(count: count + queries, dimension: dimension, seed: seed)
        let data = Array(all[0..<(count * dimension)]), held = Array(all[(count * dimension)...])
        let index = try HNSWIndex(dimension: dimension, parameters: parameters)
        let start = Date()
        for i in 0..<count {
            try index.add(id: Int64(i), vector: Array(data[(i * dimension)..<((i + 1) * dimension)]))
            if let progress, (i + 1) % max(count / 100, 1) == 0 || i + 1 == count { progress(i + 1, count) }
        }
        let buildSeconds = Date().timeIntervalSince(start)
        let exact = try ExactSearch(dimension: dimension, vectors: data)
        var hnswTimes: [Double] = [], exactTimes: [Double] = []
        var found = 0
        for j in 0..<queries {
            let query = Array(held[(j * dimension)..<((j + 1) * dimension)])
            var t = Date()
            let approximate = try index.search(query, k: k, ef: ef)
            hnswTimes.append(Date().timeIntervalSince(t))
            t = Date()
            let truth = try exact.search(query, k: k)
            exactTimes.append(Date().timeIntervalSince(t))
            found += Set(approximate.map(\.id)).intersection(truth.map(\.id)).count
        }
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] * 1e6 }
        return Report(count: count, dimension: dimension, queries: queries, k: k, ef: ef, parameters: parameters,
                      buildSeconds: buildSeconds, hnswMedianMicroseconds: median(hnswTimes),
                      exactMedianMicroseconds: median(exactTimes),
                      recall: Double(found) / Double(queries * min(k, count)))
    }
}
