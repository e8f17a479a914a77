// StepProfile: where the time of a forward pass goes, step by step, for `forge bench generate --profile`.
//
// Off by default: each measured step then costs one load of a flag. When on, the thread that called `start`
// adds each step's wall time to its counter, and `WorkerPool` adds how long that thread waited for the
// workers after its own share of each hand-off, and how long each worker was busy on that thread's jobs.
// Other threads' passes are not counted. The counters are plain memory written by one thread each; read
// them only between passes.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum StepProfile {
    /// The steps of a forward pass that are timed separately.
    public enum Step: Int, CaseIterable, Sendable {
        case embed, norm, project, rope, attention, residual, activation, logits

        public var name: String { "\(self)" }
    }

    /// Totals since the last `reset()`.
    public struct Totals: Sendable {
        /// Nanoseconds and calls per step.
        public var nanoseconds = [UInt64](repeating: 0, count: Step.allCases.count)
        public var calls = [Int](repeating: 0, count: Step.allCases.count)
        /// Worker-pool hand-offs made by the profiled thread, its own share's time and its wait for the others.
        public var handOffs = 0
        public var callerShareNanoseconds: UInt64 = 0
        public var waitNanoseconds: UInt64 = 0
        /// Busy time of each pool worker (index 0 is the caller, counted in `callerShareNanoseconds`).
        public var workerBusyNanoseconds: [UInt64] = []
    }

    nonisolated(unsafe) public private(set) static var enabled = false
    nonisolated(unsafe) static var owner = pthread_self()
    nonisolated(unsafe) static var totals = Totals()
    nonisolated(unsafe) static var workerBusy = UnsafeMutablePointer<UInt64>.allocate(capacity: 0)
    nonisolated(unsafe) static var workerSlots = 0

    /// Starts counting from zero for a pool of `workers` threads; call while no pass runs.
    public static func start(workers: Int) {
        totals = Totals()
        if workerSlots < workers {
            workerBusy.deallocate()
            workerBusy = .allocate(capacity: workers)
            workerSlots = workers
        }
        workerBusy.initialize(repeating: 0, count: workerSlots)
        owner = pthread_self()
        enabled = true
    }

    /// Stops counting and returns the totals; call while no pass runs.
    public static func stop() -> Totals {
        enabled = false
        var t = totals
        t.workerBusyNanoseconds = (0..<workerSlots).map { workerBusy[$0] }
        return t
    }

    /// True when profiling is on and this is the thread that started it.
    @inline(__always)
    public static var counting: Bool { enabled && pthread_equal(owner, pthread_self()) != 0 }

    /// Runs `body`, adding its wall time to `step` when this thread is being profiled.
    @inline(__always)
    public static func measure<R>(_ step: Step, _ body: () throws -> R) rethrows -> R {
        guard counting else { return try body() }
        let t0 = now()
        defer {
            totals.nanoseconds[step.rawValue] &+= now() &- t0
            totals.calls[step.rawValue] += 1
        }
        return try body()
    }

    /// Monotonic nanoseconds.
    @inline(__always)
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// One hand-off seen from the caller: its own share, then its wait for the workers.
    static func handOff(share: UInt64, wait: UInt64) {
        totals.handOffs += 1
        totals.callerShareNanoseconds &+= share
        totals.waitNanoseconds &+= wait
    }

    /// Busy time of worker `index` (written by that worker only).
    static func workerBusy(_ index: Int, _ ns: UInt64) {
        if index < workerSlots { workerBusy[index] &+= ns }
    }
}
