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
        /// Per worker, the sum over jobs of the time from the job's publication to the worker starting it.
        public var workerStartNanoseconds: [UInt64] = []
        /// The caller's waits by length (`waitBounds`): how many, and their total nanoseconds.
        public var waitCounts = [Int](repeating: 0, count: StepProfile.waitBounds.count + 1)
        public var waitBucketNanoseconds = [UInt64](repeating: 0, count: StepProfile.waitBounds.count + 1)
        /// Per step (`Step.rawValue`, and one more slot for hand-offs outside any step): hand-offs, the caller's share,
        /// its wait, and the workers' busy time summed over workers.
        public var stepHandOffs = [Int](repeating: 0, count: Step.allCases.count + 1)
        public var stepShareNanoseconds = [UInt64](repeating: 0, count: Step.allCases.count + 1)
        public var stepWaitNanoseconds = [UInt64](repeating: 0, count: Step.allCases.count + 1)
        public var stepWorkerBusyNanoseconds = [UInt64](repeating: 0, count: Step.allCases.count + 1)
        /// Barriers the profiled thread met inside worker regions (`WorkerPool.region`) and its wait at them, in all
        /// and per step (the same slots as the hand-offs).
        public var barriers = 0
        public var barrierWaitNanoseconds: UInt64 = 0
        public var stepBarriers = [Int](repeating: 0, count: Step.allCases.count + 1)
        public var stepBarrierWaitNanoseconds = [UInt64](repeating: 0, count: Step.allCases.count + 1)
    }

    /// Upper bounds (nanoseconds) of the wait buckets; the last bucket holds the longer waits.
    public static let waitBounds: [UInt64] = [1_000, 2_000, 5_000, 10_000, 50_000]

    nonisolated(unsafe) public private(set) static var enabled = false
    nonisolated(unsafe) static var owner = pthread_self()
    nonisolated(unsafe) static var totals = Totals()
    nonisolated(unsafe) static var workerBusy = UnsafeMutablePointer<UInt64>.allocate(capacity: 0)
    nonisolated(unsafe) static var workerStart = UnsafeMutablePointer<UInt64>.allocate(capacity: 0)
    /// Per worker and step slot: busy nanoseconds (written by that worker only).
    nonisolated(unsafe) static var workerStepBusy = UnsafeMutablePointer<UInt64>.allocate(capacity: 0)
    /// The step the profiled thread is in (`Step.allCases.count`: none).
    nonisolated(unsafe) public private(set) static var current = Step.allCases.count
    nonisolated(unsafe) static var workerSlots = 0

    /// Starts counting from zero for a pool of `workers` threads; call while no pass runs.
    public static func start(workers: Int) {
        totals = Totals()
        if workerSlots < workers {
            workerBusy.deallocate()
            workerStart.deallocate()
            workerStepBusy.deallocate()
            workerBusy = .allocate(capacity: workers)
            workerStart = .allocate(capacity: workers)
            workerStepBusy = .allocate(capacity: workers * (Step.allCases.count + 1))
            workerSlots = workers
        }
        workerStepBusy.initialize(repeating: 0, count: workerSlots * (Step.allCases.count + 1))
        current = Step.allCases.count
        workerBusy.initialize(repeating: 0, count: workerSlots)
        workerStart.initialize(repeating: 0, count: workerSlots)
        owner = pthread_self()
        enabled = true
    }

    /// Stops counting and returns the totals; call while no pass runs.
    public static func stop() -> Totals {
        enabled = false
        var t = totals
        t.workerBusyNanoseconds = (0..<workerSlots).map { workerBusy[$0] }
        t.workerStartNanoseconds = (0..<workerSlots).map { workerStart[$0] }
        let slots = Step.allCases.count + 1
        for w in 1..<max(1, workerSlots) {
            for s in 0..<slots { t.stepWorkerBusyNanoseconds[s] &+= workerStepBusy[w * slots + s] }
        }
        return t
    }

    /// True when profiling is on and this is the thread that started it.
    @inline(__always)
    public static var counting: Bool { enabled && pthread_equal(owner, pthread_self()) != 0 }

    /// Runs `body`, adding its wall time to `step` when this thread is being profiled.
    @inline(__always)
    public static func measure<R>(_ step: Step, _ body: () throws -> R) rethrows -> R {
        guard counting else { return try body() }
        let t0 = now(), outer = current
        current = step.rawValue
        defer {
            current = outer
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
        var b = 0
        while b < waitBounds.count && wait >= waitBounds[b] { b += 1 }
        totals.waitCounts[b] += 1
        totals.waitBucketNanoseconds[b] &+= wait
        totals.stepHandOffs[current] += 1
        totals.stepShareNanoseconds[current] &+= share
        totals.stepWaitNanoseconds[current] &+= wait
    }

    /// One barrier of a region seen from the profiled thread: how long it waited for the other parts.
    static func barrier(wait: UInt64) {
        totals.barriers += 1
        totals.barrierWaitNanoseconds &+= wait
        totals.stepBarriers[current] += 1
        totals.stepBarrierWaitNanoseconds[current] &+= wait
    }

    /// Busy time of worker `index` (written by that worker only).
    static func workerBusy(_ index: Int, step: Int, _ ns: UInt64) {
        guard index < workerSlots else { return }
        workerBusy[index] &+= ns
        workerStepBusy[index * (Step.allCases.count + 1) + step] &+= ns
    }

    /// How long after its publication worker `index` started a job (written by that worker only).
    static func workerStarted(_ index: Int, after ns: UInt64) {
        if index < workerSlots { workerStart[index] &+= ns }
    }
}
