// Options and start-up of a data-parallel run: `mpirun -np N forge pretrain|sft ... [--zero 1]`.
import ArgumentParser
import ForgeCore
import ForgeDistributed
import ForgeTrain
import Foundation

/// `--zero`, and the MPI world when mpirun started us.
struct DistributedOptions: ParsableArguments {
    @Option(help: "Under mpirun: 1 shards the optimizer state over the ranks (ZeRO-1); 0 keeps it whole on each.")
    var zero = 0

    func validate() throws {
        guard zero == 0 || zero == 1 else { throw ValidationError("--zero must be 0 or 1 (ZeRO stages 2 and 3 are not implemented)") }
    }

    /// Joins the job and runs `body` with this run's data-parallel layout (see `runInJob`).
    func run(explicitThreads: Bool, _ body: (DataParallel) throws -> Void) throws {
        try runInJob(explicitThreads: explicitThreads) { world in
            let parallel = DataParallel(world: world, zeroStage: zero)
            DataParallel.shared = parallel
            if world.size > 1, world.isRoot, zero == 1 { FileHandle.standardError.write(Data("optimizer state sharded (ZeRO-1)\n".utf8)) }
            try body(parallel)
        }
    }
}

/// Joins the job (one process outside mpirun), splits the cores between the ranks of this host unless --threads
/// or FORGE_THREADS says otherwise, and runs `body`; an error on any rank stops every rank with its message.
func runInJob(explicitThreads: Bool, _ body: (any Communicator) throws -> Void) throws {
    let world = try Distributed.world()
    if world.size > 1, !explicitThreads, ProcessInfo.processInfo.environment["FORGE_THREADS"] == nil {
        Parallel.threads = max(1, ProcessInfo.processInfo.activeProcessorCount / Distributed.localRanks)
    }
    if world.size > 1, world.isRoot {
        FileHandle.standardError.write(Data("distributed: \(world.size) ranks × \(Parallel.threads) threads\n".utf8))
    }
    do {
        try body(world)
        world.barrier()
        Distributed.finish()
    } catch let exit as ExitCode {
        Distributed.finish()
        throw exit
    } catch {
        if world.size > 1 { world.abort("\(error)") }
        throw error
    }
}
