// forge bench index: HNSW against exact search on clustered vectors: build time, recall@k, query latency side by side.
import ArgumentParser
import ForgeCore
import ForgeRetrieval
import ForgeTrain
import Foundation

struct BenchIndex: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Vector search: HNSW vs exact (SIMD) on clustered vectors: build time, recall@k, median query latency.")

    @Option(help: "Vectors in the index.") var count = 100_000
    @Option(help: "Vector dimension (384: all-MiniLM-L6-v2).") var dimension = 384
    @Option(help: "Queries timed.") var queries = 1000
    @Option(help: "Neighbours per query.") var k = 10
    @Option(help: "HNSW search breadth.") var ef = 64
    @Option(help: "HNSW links per node.") var m = 16
    @Option(help: "HNSW build breadth.") var efConstruction = 200
    @Option(help: "Write the report as JSON here.") var json: String?
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        var p = HNSWIndex.Parameters()
        (p.m, p.efConstruction, p.efSearch) = (m, efConstruction, ef)
        let progress = ProgressLine()
        let report = try IndexBenchmark.run(count: count, dimension: dimension, queries: queries, k: k, ef: ef, parameters: p) { done, total in
            progress.update("building HNSW: \(done)/\(total) vectors")
        }
        print(report)
        if let json {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(json, data: try e.encode(report))
        }
    }
}
