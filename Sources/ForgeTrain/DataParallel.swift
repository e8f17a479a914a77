// DataParallel: how a training run spreads over the ranks of a distributed job.
//
// Every rank holds the whole model and draws the same stream of micro-batches (the sampler state is
// shared, so a checkpoint's one sampler state is every rank's and a run resumes on any number of ranks);
// rank r computes the r-th contiguous block of each step's micro-batches. Gradients are then summed along
// the rank tree (Collectives.swift) in buckets. With ZeRO-1 each rank owns a contiguous block of whole
// parameters: gradients are reduce-scattered to their owners, each rank clips with the global norm (summed
// per parameter in the single-process order), updates its block with its share of the optimizer state, and
// the new weights are all-gathered. Checkpoints gather the state back, so their format does not change.
import ForgeAutograd
import ForgeCore
import ForgeDistributed
import ForgeKernels

/// The data-parallel layout of a run: the job's communicator and the ZeRO stage (0 or 1).
public final class DataParallel {
    public let world: any Communicator
    public let zeroStage: Int
    /// Scratch for the flattened gradients or weights (kept between steps).
    private var flat: [Float] = []

    public init(world: any Communicator = SingleProcess(), zeroStage: Int = 0) {
        self.world = world
        self.zeroStage = zeroStage
    }

    /// The layout the training commands use (set once at start-up from mpirun's environment and `--zero`).
    nonisolated(unsafe) public static var shared = DataParallel()

    public var rank: Int { world.rank }
    public var size: Int { world.size }
    public var isRoot: Bool { world.rank == 0 }
    public var sharded: Bool { zeroStage >= 1 && world.size > 1 }

    /// Owner rank of each parameter (in the given order): contiguous blocks of about equal element counts.
    public static func owners(of parameters: [Variable], ranks: Int) -> [Int] {
        let total = parameters.reduce(0) { $0 + $1.value.count }
        var out: [Int] = [], before = 0
        for p in parameters {
            // The rank whose share [r·total/N, (r+1)·total/N) holds the parameter's middle element.
            let middle = before + p.value.count / 2
            out.append(min(ranks - 1, middle * ranks / max(total, 1)))
            before += p.value.count
        }
        // Keep blocks contiguous and in rank order.
        for i in 1..<max(out.count, 1) where out[i] < out[i - 1] { out[i] = out[i - 1] }
        return out
    }

    /// Flat-buffer range of each rank for parameters owned by `owners` (contiguous by construction).
    func ranges(_ parameters: [Variable], owners: [Int]) -> [Range<Int>] {
        var lo = [Int](repeating: -1, count: size), hi = [Int](repeating: 0, count: size)
        var offset = 0
        for (p, o) in zip(parameters, owners) {
            if lo[o] < 0 { lo[o] = offset }
            offset += p.value.count
            hi[o] = offset
        }
        // Ranks that own nothing get an empty range at the right place.
        var out: [Range<Int>] = [], cursor = 0
        for r in 0..<size {
            if lo[r] >= 0 { out.append(lo[r]..<hi[r]); cursor = hi[r] } else { out.append(cursor..<cursor) }
        }
        return out
    }

    /// Which parameters hold a gradient on any rank (the others are left without one, as in one process).
    private func present(_ parameters: [Variable]) -> [Bool] {
        world.sumInRankOrder(parameters.map { $0.grad == nil ? 0 : 1 }).map { $0 > 0 }
    }

    private func withFlat<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        if flat.count < count { flat = [Float](repeating: 0, count: count) }
        return flat.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }

    /// Sums every parameter's gradient over the ranks (all of them end with the sum).
    public func allreduceGradients(_ parameters: [Variable]) {
        guard size > 1 else { return }
        let has = present(parameters)
        let count = parameters.reduce(0) { $0 + $1.value.count }
        withFlat(count) { buf in
            pack(parameters, into: buf)
            world.allreduceSum(buf, count: count)
            unpack(parameters, from: buf, present: has)
        }
    }

    /// ZeRO-1's reduce-scatter: each rank ends with the summed gradients of the parameters it owns (others: none).
    public func reduceScatterGradients(_ parameters: [Variable], owners: [Int]) {
        let has = present(parameters)
        let count = parameters.reduce(0) { $0 + $1.value.count }
        withFlat(count) { buf in
            pack(parameters, into: buf)
            world.reduceScatterSum(buf, owners: ranges(parameters, owners: owners))
            unpack(parameters, from: buf, present: zip(has, owners).map { $0 && $1 == rank })
        }
    }

    /// The global gradient norm of a sharded step: per-parameter sums of squares from their owners, added in
    /// parameter order exactly as `AdamW.gradientNorm` adds them in one process.
    public func shardedGradientNorm(_ parameters: [Variable], owners: [Int]) -> Double {
        let squares = zip(parameters, owners).map { p, o in o == rank ? p.grad.map { sumOfSquares($0.data, $0.count) } ?? 0 : 0 }
        return world.sumInRankOrder(squares).reduce(0, +).squareRoot()
    }

    /// ZeRO-1's all-gather: every rank receives the weights each owner updated.
    public func allgatherWeights(_ parameters: [Variable], owners: [Int]) {
        let count = parameters.reduce(0) { $0 + $1.value.count }
        withFlat(count) { buf in
            var offset = 0
            for p in parameters { (buf + offset).update(from: p.value.data, count: p.value.count); offset += p.value.count }
            world.allgather(buf, owners: ranges(parameters, owners: owners))
            offset = 0
            for p in parameters { p.value.data.update(from: buf + offset, count: p.value.count); offset += p.value.count }
        }
    }

    /// A sharded optimizer's state gathered from every owner (for checkpoints): moments and momenta by name.
    public func gatherState(_ optimizer: AdamW, owners: [Int]) -> (moments: [String: (m: Tensor, v: Tensor)], momenta: [String: Tensor]) {
        let parameters = optimizer.parameters
        let muon = Set(optimizer.groups.filter(\.muon).flatMap(\.parameters).map(\.name))
        func gathered(_ pick: (Variable) -> Tensor?) -> [Tensor] {
            let count = parameters.reduce(0) { $0 + $1.value.count }
            return withFlat(count) { buf in
                var offset = 0
                for p in parameters {
                    if let t = pick(p) { (buf + offset).update(from: t.data, count: t.count) }
                    offset += p.value.count
                }
                world.allgather(buf, owners: ranges(parameters, owners: owners))
                offset = 0
                return parameters.map { p in
                    let t = Tensor(shape: p.shape)
                    t.data.update(from: buf + offset, count: t.count)
                    offset += t.count
                    return t
                }
            }
        }
        let ms = gathered { optimizer.moments[$0.name]?.m ?? optimizer.momenta[$0.name] }
        let vs = gathered { optimizer.moments[$0.name]?.v }
        var moments: [String: (m: Tensor, v: Tensor)] = [:], momenta: [String: Tensor] = [:]
        for (i, p) in parameters.enumerated() {
            if muon.contains(p.name) { momenta[p.name] = ms[i] } else { moments[p.name] = (ms[i], vs[i]) }
        }
        return (moments, momenta)
    }

    private func pack(_ parameters: [Variable], into buf: UnsafeMutablePointer<Float>) {
        var offset = 0
        for p in parameters {
            if let g = p.grad { (buf + offset).update(from: g.data, count: g.count) } else { (buf + offset).update(repeating: 0, count: p.value.count) }
            offset += p.value.count
        }
    }

    private func unpack(_ parameters: [Variable], from buf: UnsafeMutablePointer<Float>, present: [Bool]) {
        var offset = 0
        for (i, p) in parameters.enumerated() {
            defer { offset += p.value.count }
            guard present[i] else { p.setGrad(nil); continue }
            let g = p.grad ?? Tensor(shape: p.shape, zeroed: false)
            g.data.update(from: buf + offset, count: g.count)
            p.setGrad(g)
        }
    }
}
