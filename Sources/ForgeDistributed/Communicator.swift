// Communicator: the processes of a distributed job and the primitive exchanges between them. One process
// is a world of one (`SingleProcess`); under `mpirun` it is `MPIWorld`. The sums that must not depend on
// the number of processes are built on these primitives in Collectives.swift.
import ForgeCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The processes of a job (ranks 0..<size) and the exchanges Forge needs between them.
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Sends `send` to rank `to` while receiving `receive.count` bytes from rank `from`.
    func exchange(send: UnsafeRawBufferPointer, to: Int, receive: UnsafeMutableRawBufferPointer, from: Int)
    /// Every rank's block `counts[r]` floats at offset `offsets[r]` of `buffer`, copied to all ranks (in place).
    func allgather(_ buffer: UnsafeMutablePointer<Float>, counts: [Int], offsets: [Int])
    /// Rank `root`'s bytes, copied to every rank (others' arrays are replaced).
    func broadcast(_ bytes: inout [UInt8], root: Int)
    /// Every rank's array of doubles (all the same length), in rank order.
    func allgather(_ values: [Double]) -> [[Double]]
    /// Every rank's bytes, in rank order, at rank `root` (the others get an empty array).
    func gather(_ bytes: [UInt8], root: Int) -> [[UInt8]]
    /// Waits for every rank.
    func barrier()
    /// Stops every rank of the job with `message` (the job exits non-zero).
    func abort(_ message: String) -> Never
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }
    /// Elementwise sums of an array over ranks, summed in rank order (the same on every rank).
    public func sumInRankOrder(_ values: [Double]) -> [Double] {
        guard size > 1 else { return values }
        let all = allgather(values)
        return (0..<values.count).map { i in all.reduce(0.0) { $0 + $1[i] } }
    }
    /// True on every rank when it is true on any.
    public func any(_ flag: Bool) -> Bool { size > 1 ? sumInRankOrder([flag ? 1 : 0])[0] > 0 : flag }
}

/// A job of one process: every exchange is a copy or nothing.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func exchange(send: UnsafeRawBufferPointer, to: Int, receive: UnsafeMutableRawBufferPointer, from: Int) {
        precondition(to == 0 && from == 0 && send.count == receive.count)
        if let base = send.baseAddress, send.count > 0 { receive.baseAddress!.copyMemory(from: base, byteCount: send.count) }
    }
    public func allgather(_ buffer: UnsafeMutablePointer<Float>, counts: [Int], offsets: [Int]) {}
    public func broadcast(_ bytes: inout [UInt8], root: Int) {}
    public func allgather(_ values: [Double]) -> [[Double]] { [values] }
    public func gather(_ bytes: [UInt8], root: Int) -> [[UInt8]] { [bytes] }
    public func barrier() {}
    public func abort(_ message: String) -> Never {
        writeStandardError("forge: \(message)\n")
        exit(1)
    }
}

/// The processes `mpirun` started (MPI_COMM_WORLD), over Open MPI loaded at run time.
public final class MPIWorld: Communicator, @unchecked Sendable {
    let mpi: OpenMPI
    public let rank: Int
    public let size: Int
    /// Largest element count per MPI call (counts are C ints).
    static let chunk = 1 << 28

    init() throws {
        mpi = try OpenMPI()
        var provided: Int32 = 0
        mpi.check(mpi.initThread(nil, nil, 1 /* MPI_THREAD_FUNNELED */, &provided), "MPI_Init_thread")
        var r: Int32 = 0, s: Int32 = 0
        mpi.check(mpi.commRank(mpi.commWorld, &r), "MPI_Comm_rank")
        mpi.check(mpi.commSize(mpi.commWorld, &s), "MPI_Comm_size")
        (rank, size) = (Int(r), Int(s))
    }

    public func exchange(send: UnsafeRawBufferPointer, to: Int, receive: UnsafeMutableRawBufferPointer, from: Int) {
        var done = 0
        let total = max(send.count, receive.count)
        repeat {
            let s = max(0, min(Self.chunk, send.count - done)), r = max(0, min(Self.chunk, receive.count - done))
            mpi.check(mpi.sendRecv(send.baseAddress.map { $0 + done }, Int32(s), mpi.byte, Int32(to), 17,
                                   receive.baseAddress.map { $0 + done }, Int32(r), mpi.byte, Int32(from), 17, mpi.commWorld, nil),
                      "MPI_Sendrecv")
            done += Self.chunk
        } while done < total
    }

    public func allgather(_ buffer: UnsafeMutablePointer<Float>, counts: [Int], offsets: [Int]) {
        precondition(counts.count == size && offsets.count == size)
        precondition(counts.allSatisfy { $0 < Int(Int32.max) } && (offsets.max() ?? 0) < Int(Int32.max),
                     "allgather blocks of more than 2^31 floats: split the buffer")
        let c = counts.map { Int32($0) }, o = offsets.map { Int32($0) }
        mpi.check(mpi.allGatherV(OpenMPI.inPlace, 0, mpi.float, buffer, c, o, mpi.float, mpi.commWorld), "MPI_Allgatherv")
    }

    public func broadcast(_ bytes: inout [UInt8], root: Int) {
        var n = [Double(bytes.count)]
        n.withUnsafeMutableBytes { _ = mpi.bcast($0.baseAddress, 1, mpi.double, Int32(root), mpi.commWorld) }
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(n[0])) }
        bytes.withUnsafeMutableBytes { mpi.check(mpi.bcast($0.baseAddress, Int32($0.count), mpi.byte, Int32(root), mpi.commWorld), "MPI_Bcast") }
    }

    public func allgather(_ values: [Double]) -> [[Double]] {
        let n = values.count
        var all = [Double](repeating: 0, count: n * size)
        var counts = [Int32](repeating: Int32(n), count: size)
        var offsets = (0..<size).map { Int32($0 * n) }
        values.withUnsafeBytes { v in
            all.withUnsafeMutableBytes { a in
                counts.withUnsafeMutableBufferPointer { c in
                    offsets.withUnsafeMutableBufferPointer { o in
                        mpi.check(mpi.allGatherV(v.baseAddress, Int32(n), mpi.double, a.baseAddress, c.baseAddress!, o.baseAddress!,
                                                 mpi.double, mpi.commWorld), "MPI_Allgatherv")
                    }
                }
            }
        }
        return (0..<size).map { Array(all[($0 * n)..<(($0 + 1) * n)]) }
    }

    public func gather(_ bytes: [UInt8], root: Int) -> [[UInt8]] {
        let sizes = allgather([Double(bytes.count)]).map { Int($0[0]) }
        guard sizes.reduce(0, +) < Int(Int32.max) else { abort("gathering \(sizes.reduce(0, +)) bytes at one rank: more than MPI's 2 GiB per call") }
        var offsets: [Int32] = [], total = 0
        for s in sizes { offsets.append(Int32(total)); total += s }
        var all = [UInt8](repeating: 0, count: rank == root ? total : 0)
        let counts = sizes.map { Int32($0) }
        bytes.withUnsafeBytes { b in
            all.withUnsafeMutableBytes { a in
                counts.withUnsafeBufferPointer { c in
                    offsets.withUnsafeBufferPointer { o in
                        mpi.check(mpi.gatherV(b.baseAddress, Int32(b.count), mpi.byte, a.baseAddress, c.baseAddress, o.baseAddress,
                                              mpi.byte, Int32(root), mpi.commWorld), "MPI_Gatherv")
                    }
                }
            }
        }
        guard rank == root else { return [] }
        return (0..<size).map { Array(all[Int(offsets[$0])..<(Int(offsets[$0]) + sizes[$0])]) }
    }

    public func barrier() { mpi.check(mpi.barrier(mpi.commWorld), "MPI_Barrier") }

    public func abort(_ message: String) -> Never {
        writeStandardError("forge (rank \(rank) of \(size)): \(message); stopping every rank\n")
        _ = mpi.abort(mpi.commWorld, 1)
        exit(1)
    }

    /// Ends MPI (call once, at a normal exit).
    public func finish() { _ = mpi.finalize() }
}

/// The job this process belongs to: a world of one unless started by `mpirun`.
public enum Distributed {
    nonisolated(unsafe) private static var current: (any Communicator)?

    /// The world, set up at first use: under Open MPI's mpirun (OMPI_COMM_WORLD_SIZE is set) the MPI world,
    /// else a single process. Throws when mpirun started us but Open MPI cannot be loaded.
    public static func world() throws -> any Communicator {
        if let current { return current }
        let w: any Communicator = launchedByMPI ? try MPIWorld() : SingleProcess()
        current = w
        return w
    }

    /// True when `mpirun` started this process.
    public static var launchedByMPI: Bool { getenv("OMPI_COMM_WORLD_SIZE") != nil }

    /// Ranks sharing this host (to split the cores between them), 1 outside mpirun.
    public static var localRanks: Int {
        guard let s = getenv("OMPI_COMM_WORLD_LOCAL_SIZE"), let n = Int(String(cString: s)), n > 0 else { return 1 }
        return n
    }

    /// Ends MPI at a normal exit (nothing for one process).
    public static func finish() { (current as? MPIWorld)?.finish() }
}

/// Writes a line to standard error unbuffered (messages just before an abort must not be lost).
func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}
