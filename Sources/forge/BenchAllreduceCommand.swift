// forge bench allreduce: the gradient exchange of data-parallel training, timed and checked, under mpirun.
import ArgumentParser
import ForgeCore
import ForgeDistributed
import Foundation

struct BenchAllreduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Time (and check) Forge's tree-ordered all-reduce over the ranks of an mpirun job.",
        discussion: """
        Prints, per buffer size, the median time, the algorithm bandwidth (bytes / time) and the bus bandwidth \
        (× 2(N−1)/N, what each rank's link carries), the figures docs/SCALING.md's model takes. With --check, \
        every result is compared bit for bit with the rank-tree sum computed locally, for the all-reduce and for a \
        reduce-scatter over uneven blocks; a mismatch exits non-zero.

        Example: mpirun -np 2 forge bench allreduce --check
        """)

    @Option(help: "Largest buffer, in floats.") var floats = 1 << 22
    @Option(help: "Timed repetitions per size.") var iterations = 10
    @Flag(help: "Verify results against the locally computed tree sum.") var check = false

    /// Rank r's value at index i: magnitudes differ by rank so that the order of the sum shows in the bits.
    static func value(_ i: Int, rank: Int) -> Float {
        Float(sin(Double(i) * 0.37 + Double(rank) * 1.7)) * [1, 1e4, 1e-3, 3e2][rank % 4]
    }

    static func treeSum(_ i: Int, ranks: Int) -> Float {
        var stack: [Float] = [], tree = TreeOrder()
        for r in 0..<ranks {
            stack.append(value(i, rank: r))
            for _ in 0..<tree.push() { let b = stack.removeLast(); stack[stack.count - 1] += b }
        }
        for _ in 0..<tree.remaining { let b = stack.removeLast(); stack[stack.count - 1] += b }
        return stack[0]
    }

    func run() throws {
        let world = try Distributed.world()
        defer { Distributed.finish() }
        let n = world.size, r = world.rank
        func say(_ s: String) { if world.isRoot { FileHandle.standardOutput.write(Data((s + "\n").utf8)) } }
        if check {
            let count = 100_003
            var buf = (0..<count).map { Self.value($0, rank: r) }
            buf.withUnsafeMutableBufferPointer { world.allreduceSum($0.baseAddress!, count: count) }
            var bad = (0..<count).filter { buf[$0].bitPattern != Self.treeSum($0, ranks: n).bitPattern }.count
            let sequentialDiffers = (0..<count).filter { i in
                (0..<n).reduce(Float(0)) { $0 + Self.value(i, rank: $1) }.bitPattern != Self.treeSum(i, ranks: n).bitPattern
            }.count
            // Uneven blocks (one rank may own nothing), as ZeRO-1's whole-parameter shards are.
            var owners: [Range<Int>] = [], lo = 0
            for q in 0..<n { let hi = q == n - 1 ? count : lo + (q == 1 ? 0 : count / (2 * n)); owners.append(lo..<hi); lo = hi }
            var shard = (0..<count).map { Self.value($0, rank: r) }
            shard.withUnsafeMutableBufferPointer { world.reduceScatterSum($0.baseAddress!, owners: owners) }
            bad += owners[r].filter { shard[$0].bitPattern != Self.treeSum($0, ranks: n).bitPattern }.count
            let total = world.sumInRankOrder([Double(bad)])[0]
            say("check: \(n) ranks, all-reduce of \(count) floats and reduce-scatter over uneven blocks: "
                + (total == 0 ? "bit-identical to the rank-tree sum" : "\(Int(total)) MISMATCHES")
                + " (a sequential sum would differ in \(sequentialDiffers) of \(count))")
            if total != 0 { throw ExitCode(1) }
        }
        say("ranks \(n)   threads/rank \(Parallel.threads)")
        say("floats        bytes        median µs   algbw GB/s   busbw GB/s")
        var size = 256
        while size <= floats {
            var buf = [Float](repeating: 1, count: size)
            var times: [Double] = []
            for i in 0..<(iterations + 2) {
                world.barrier()
                let t0 = DispatchTime.now().uptimeNanoseconds
                buf.withUnsafeMutableBufferPointer { world.allreduceSum($0.baseAddress!, count: size) }
                let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                if i >= 2 { times.append(dt) }
            }
            // The slowest rank decides a step: take each iteration's maximum over ranks.
            let worst = world.allgather(times)
            let perIteration = (0..<times.count).map { i in worst.map { $0[i] }.max()! }.sorted()
            let median = perIteration[perIteration.count / 2]
            let bytes = Double(size * 4)
            say(String(format: "%-12d  %-11.0f  %10.1f   %10.3f   %10.3f", size, bytes, median * 1e6, bytes / median / 1e9,
                       bytes / median / 1e9 * 2 * Double(n - 1) / Double(n)))
            size *= 4
        }
    }
}
