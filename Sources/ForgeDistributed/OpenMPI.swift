// OpenMPI: the few entry points of Open MPI's C interface that Forge uses, loaded at run time.
//
// Forge links no MPI library: a process started by `mpirun` (seen from OMPI_COMM_WORLD_SIZE) opens
// libmpi.so.40 with RTLD_GLOBAL (Open MPI's own plugins need its symbols) and looks these up. A plain
// `forge` therefore builds and runs where Open MPI is absent. Handles such as MPI_COMM_WORLD are, in Open
// MPI's ABI, the addresses of predefined globals (`ompi_mpi_comm_world`, `ompi_mpi_float`, ...).
import ForgeCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Open MPI's C functions and predefined handles, resolved from the shared library.
final class OpenMPI: @unchecked Sendable {
    typealias Handle = UnsafeMutableRawPointer
    typealias InitThread = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int32, UnsafeMutablePointer<Int32>) -> Int32
    typealias CommQuery = @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
    typealias SendRecv = @convention(c) (UnsafeRawPointer?, Int32, Handle, Int32, Int32,
                                         UnsafeMutableRawPointer?, Int32, Handle, Int32, Int32, Handle, UnsafeMutableRawPointer?) -> Int32
    typealias AllGatherV = @convention(c) (UnsafeRawPointer?, Int32, Handle, UnsafeMutableRawPointer?,
                                           UnsafePointer<Int32>, UnsafePointer<Int32>, Handle, Handle) -> Int32
    typealias GatherV = @convention(c) (UnsafeRawPointer?, Int32, Handle, UnsafeMutableRawPointer?,
                                        UnsafePointer<Int32>?, UnsafePointer<Int32>?, Handle, Int32, Handle) -> Int32
    typealias AllReduce = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle) -> Int32
    typealias Bcast = @convention(c) (UnsafeMutableRawPointer?, Int32, Handle, Int32, Handle) -> Int32
    typealias Barrier = @convention(c) (Handle) -> Int32
    typealias Abort = @convention(c) (Handle, Int32) -> Int32
    typealias Finalize = @convention(c) () -> Int32

    let commWorld, float, double, byte, int64, opSum, opMax: Handle
    let initThread: InitThread
    let commRank, commSize: CommQuery
    let sendRecv: SendRecv
    let allGatherV: AllGatherV
    let gatherV: GatherV
    let allReduce: AllReduce
    let bcast: Bcast
    let barrier: Barrier
    let abort: Abort
    let finalize: Finalize
    /// MPI_IN_PLACE in Open MPI's ABI.
    static var inPlace: UnsafeRawPointer { UnsafeRawPointer(bitPattern: 1)! }

    /// Opens the library; the error names what is missing and how to install it.
    init() throws {
        var lib: UnsafeMutableRawPointer?
        for name in ["libmpi.so.40", "libmpi.so", "libmpi.dylib"] {
            lib = dlopen(name, RTLD_NOW | RTLD_GLOBAL)
            if lib != nil { break }
        }
        guard let lib else {
            throw ForgeError("started by mpirun, but Open MPI's libmpi.so.40 cannot be opened (install Debian's libopenmpi-dev and openmpi-bin)")
        }
        func symbol(_ name: String) throws -> UnsafeMutableRawPointer {
            guard let p = dlsym(lib, name) else { throw ForgeError("Open MPI's library lacks '\(name)' (Forge needs Open MPI 4 or later)") }
            return p
        }
        func function<F>(_ name: String, _: F.Type) throws -> F { unsafeBitCast(try symbol(name), to: F.self) }
        commWorld = try symbol("ompi_mpi_comm_world")
        float = try symbol("ompi_mpi_float")
        double = try symbol("ompi_mpi_double")
        byte = try symbol("ompi_mpi_byte")
        int64 = try symbol("ompi_mpi_long_long_int")
        opSum = try symbol("ompi_mpi_op_sum")
        opMax = try symbol("ompi_mpi_op_max")
        initThread = try function("MPI_Init_thread", InitThread.self)
        commRank = try function("MPI_Comm_rank", CommQuery.self)
        commSize = try function("MPI_Comm_size", CommQuery.self)
        sendRecv = try function("MPI_Sendrecv", SendRecv.self)
        allGatherV = try function("MPI_Allgatherv", AllGatherV.self)
        gatherV = try function("MPI_Gatherv", GatherV.self)
        allReduce = try function("MPI_Allreduce", AllReduce.self)
        bcast = try function("MPI_Bcast", Bcast.self)
        barrier = try function("MPI_Barrier", Barrier.self)
        abort = try function("MPI_Abort", Abort.self)
        finalize = try function("MPI_Finalize", Finalize.self)
    }

    /// Fails loudly on an MPI error code (Open MPI aborts on errors by default; this guards the rest).
    func check(_ code: Int32, _ what: String) {
        if code != 0 {
            writeStandardError("forge: MPI error \(code) in \(what); stopping every rank\n")
            _ = abort(commWorld, 1)
        }
    }
}
