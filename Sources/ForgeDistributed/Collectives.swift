// Collectives: sums over ranks whose floating-point order does not depend on how the work was split.
//
// Every sum over ranks is a balanced binary tree: ranks (0,1), (2,3), ... first, then pairs of pairs. For a
// power-of-two number of ranks, reduce-scatter runs as recursive halving (partner rank ^ 1, then ^ 2, ...),
// which adds exactly along that tree, and all-reduce is reduce-scatter then all-gather (Rabenseifner's
// algorithm: 2(N−1)/N of the buffer on the wire per rank, as a ring). The trainer sums micro-batches along the
// same tree, so N ranks with contiguous blocks of micro-batches give one process's bits. Other rank counts
// gather every rank's copy and add along the same streaming tree (exact too, N times the memory).
import ForgeCore

/// The binary-counter tree order: leaves are pushed in order and merged while the two newest subtrees
/// hold the same number of leaves; what remains is merged newest first. Balanced for 2^k leaves.
public struct TreeOrder {
    private var sizes: [Int] = []
    public init() {}
    /// Pushes one leaf; returns how many merges of the two newest partial sums to do now.
    public mutating func push() -> Int {
        sizes.append(1)
        var merges = 0
        while sizes.count >= 2, sizes[sizes.count - 1] == sizes[sizes.count - 2] {
            let b = sizes.removeLast()
            sizes[sizes.count - 1] += b
            merges += 1
        }
        return merges
    }
    /// Merges still to do after the last leaf.
    public var remaining: Int { max(0, sizes.count - 1) }
}

extension Communicator {
    /// Elements per exchange (bounds the scratch memory of the collectives).
    public static var bucket: Int { 1 << 23 }

    /// Sums `buffer` (`count` floats) over ranks into every rank's copy, along the rank tree.
    public func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
        guard size > 1, count > 0 else { return }
        let owners = (0..<size).map { (count * $0 / size)..<(count * ($0 + 1) / size) }
        reduceScatterSum(buffer, owners: owners)
        allgather(buffer, owners: owners)
    }

    /// Sums `buffer` over ranks so that rank r's range `owners[r]` (contiguous, in rank order, covering the
    /// buffer) holds the tree sum; the rest of the buffer is left as scratch.
    public func reduceScatterSum(_ buffer: UnsafeMutablePointer<Float>, owners: [Range<Int>]) {
        precondition(owners.count == size)
        guard size > 1 else { return }
        let count = owners.last!.upperBound
        var start = 0
        while start < count {
            let end = min(count, start + Self.bucket)
            let local = owners.map { r in (max(r.lowerBound, start) - start)..<(max(min(r.upperBound, end), max(r.lowerBound, start)) - start) }
            if size & (size - 1) == 0 { halvingSum(buffer + start, owners: local) } else { gatheredSum(buffer + start, count: end - start) }
            start = end
        }
    }

    /// Copies each rank's range `owners[r]` of `buffer` to every rank.
    public func allgather(_ buffer: UnsafeMutablePointer<Float>, owners: [Range<Int>]) {
        guard size > 1 else { return }
        let count = owners.last!.upperBound
        var start = 0
        while start < count {
            let end = min(count, start + Self.bucket)
            let clipped = owners.map { r in max(r.lowerBound, start)..<max(min(r.upperBound, end), max(r.lowerBound, start)) }
            allgather(buffer, counts: clipped.map(\.count), offsets: clipped.map(\.lowerBound))
            start = end
        }
    }

    /// Recursive halving over a power-of-two world: at the round of bit b the partner is rank ^ b; each keeps the
    /// ranges of the ranks that agree with it on bits ≤ b and adds the partner's copy of them.
    private func halvingSum(_ buffer: UnsafeMutablePointer<Float>, owners: [Range<Int>]) {
        var bit = 1
        var sendBuf: [Float] = [], receiveBuf: [Float] = []
        while bit < size {
            let mask = 2 * bit - 1, partner = rank ^ bit
            let keep = (0..<size).filter { $0 & mask == rank & mask }.map { owners[$0] }
            let give = (0..<size).filter { $0 & mask == partner & mask }.map { owners[$0] }
            sendBuf.removeAll(keepingCapacity: true)
            for r in give { sendBuf.append(contentsOf: UnsafeBufferPointer(start: buffer + r.lowerBound, count: r.count)) }
            let n = keep.reduce(0) { $0 + $1.count }
            if receiveBuf.count < n { receiveBuf = [Float](repeating: 0, count: n) }
            sendBuf.withUnsafeBytes { s in
                receiveBuf.withUnsafeMutableBytes { r in
                    exchange(send: s, to: partner, receive: UnsafeMutableRawBufferPointer(rebasing: r[0..<(n * 4)]), from: partner)
                }
            }
            receiveBuf.withUnsafeBufferPointer { rcv in
                var j = 0
                for r in keep {
                    let p = buffer + r.lowerBound, q = rcv.baseAddress! + j
                    for i in 0..<r.count { p[i] += q[i] }
                    j += r.count
                }
            }
            bit <<= 1
        }
    }

    /// Any world size: gathers every rank's copy and adds them along the tree (same order as the halving).
    private func gatheredSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
        var all = [Float](repeating: 0, count: count * size)
        all.withUnsafeMutableBufferPointer { a in
            (a.baseAddress! + rank * count).update(from: buffer, count: count)
            allgather(a.baseAddress!, counts: [Int](repeating: count, count: size), offsets: (0..<size).map { $0 * count })
            var stack: [UnsafeMutablePointer<Float>] = []
            var tree = TreeOrder()
            func merge() {
                let b = stack.removeLast(), a = stack[stack.count - 1]
                for i in 0..<count { a[i] += b[i] }
            }
            for r in 0..<size {
                stack.append(a.baseAddress! + r * count)
                for _ in 0..<tree.push() { merge() }
            }
            for _ in 0..<tree.remaining { merge() }
            buffer.update(from: stack[0], count: count)
        }
    }
}
