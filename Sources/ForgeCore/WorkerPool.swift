// WorkerPool: persistent worker threads that spin briefly between jobs, for work that is split
// hundreds of times per second (a decoded token runs ~120 matrix-vector products).
//
// A Dispatch hand-off costs tens of microseconds; here the caller publishes a job by bumping a
// generation counter, runs part 0 itself, and the workers (already spinning) run the others. Workers
// that find no job for a while sleep on a condition variable. Ranges are the same fixed split as
// `Parallel.forEach`, so results do not depend on timing. A job started while another runs, or from
// inside a job, falls back to `Parallel.forEach`.
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class WorkerPool: @unchecked Sendable {
    /// The pool sized to `Parallel.threads` at first use.
    public static let shared = WorkerPool(threads: Parallel.threads)

    public let threads: Int
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    private var job: ((Int) -> Void)?
    private var parts = 0
    /// The published job comes from the thread being profiled (`StepProfile`).
    private var profiled = false
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    /// Spins (atomic loads) before a worker sleeps: roughly 50–200 µs.
    private let spinLimit = 200_000

    init(threads: Int) {
        self.threads = max(1, threads)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        for w in 1..<self.threads {
            let box = UncheckedSendable(self)
            var tid = pthread_t()
            let ctx = Unmanaged.passRetained(WorkerStart(pool: box.value, index: w)).toOpaque()
            _ = pthread_create(&tid, nil, { raw in
                let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
                start.pool.workerLoop(start.index)
                return nil
            }, ctx)
            pthread_detach(tid)
        }
    }

    /// Calls `body` on up to `threads` disjoint ranges covering `0..<count` and waits;
    /// less than `grain` items per thread runs inline.
    public func forEach(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        let t = min(threads, Parallel.threads, max(1, count / max(grain, 1)))
        if t <= 1 || count <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            Parallel.forEach(count, grain: grain, body)   // nested or concurrent use
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { escapable in
            job = { i in
                let lo = count * i / t, hi = count * (i + 1) / t
                if lo < hi { escapable(lo..<hi) }
            }
            parts = t
            profiled = StepProfile.counting
            pending.store(threads - 1, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(&mutex)
                pthread_cond_broadcast(&wake)
                pthread_mutex_unlock(&mutex)
            }
            if profiled {
                let t0 = StepProfile.now()
                job!(0)
                let t1 = StepProfile.now()
                while pending.load(ordering: .acquiring) > 0 {}
                StepProfile.handOff(share: t1 &- t0, wait: StepProfile.now() &- t1)
            } else {
                job!(0)
                while pending.load(ordering: .acquiring) > 0 {}
            }
            job = nil
        }
    }

    private func workerLoop(_ index: Int) {
        var seen = 0
        while true {
            var g = generation.load(ordering: .acquiring)
            var spins = 0
            while g == seen && spins < spinLimit { spins += 1; g = generation.load(ordering: .acquiring) }
            if g == seen {
                pthread_mutex_lock(&mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                g = generation.load(ordering: .sequentiallyConsistent)
                while g == seen {
                    pthread_cond_wait(&wake, &mutex)
                    g = generation.load(ordering: .acquiring)
                }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(&mutex)
            }
            seen = g
            if index < parts, let job {
                if profiled {
                    let t0 = StepProfile.now()
                    job(index)
                    StepProfile.workerBusy(index, StepProfile.now() &- t0)
                } else {
                    job(index)
                }
            }
            pending.subtract(1, ordering: .releasing)
        }
    }
}

private final class WorkerStart {
    let pool: WorkerPool
    let index: Int
    init(pool: WorkerPool, index: Int) { self.pool = pool; self.index = index }
}
