// WorkerPool: persistent worker threads that spin briefly between jobs, for work that is split
// hundreds of times per second (a decoded token runs ~120 matrix-vector products).
//
// A Dispatch hand-off costs tens of microseconds; here the caller publishes a job by bumping a
// generation counter, runs part 0 itself, and the workers (already spinning) run the others, each then
// storing the generation it finished on a cache line of its own. The cost of a hand-off is the cache-line
// transfers between cores (here ~0.1 µs each way), so the job's fields share the generation's line and no
// reference count is touched by two cores. Workers
// that find no job for a while sleep on a condition variable. Ranges are the same fixed split as
// `Parallel.forEach`, so results do not depend on timing; a job may instead ask for a balanced split
// (`minChunk`), where each part runs a fixed share of the first three quarters and the parts then claim
// the rest in shrinking chunks, so a part that starts late or runs slow does not hold the others up (for
// bodies whose results do not depend on how the items are grouped). A job started while another runs, or
// from inside a job, falls back to `Parallel.forEach`.
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
    /// The published job, on one cache line of its own that only the caller writes: the generation the workers
    /// poll and the fields they read when it changes, so a hand-off moves this line once each way.
    private let job: UnsafeMutablePointer<JobLine>
    /// Per worker, 128 bytes apart: the last generation it finished (the caller polls these).
    private let done: UnsafeMutablePointer<Atomic<Int>>
    private static let doneStride = 16
    /// A balanced job's next unclaimed item, on a line of its own (every part writes it).
    private let next: UnsafeMutablePointer<Atomic<Int>>
    /// A region's barrier arrivals and its claimed items (`RegionPart`), each on a line of its own.
    private let arrived: UnsafeMutablePointer<Atomic<Int>>
    private let claims: UnsafeMutablePointer<Atomic<Int>>
    private let busy = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    /// Spins (atomic loads) before a worker sleeps: roughly 0.5–2 ms, longer than the gap between two decoded tokens
    /// (sampling, ~0.2 ms), whose wake-up through the condition variable cost ~60 µs a token.
    private let spinLimit = 2_000_000

    init(threads: Int) {
        self.threads = max(1, threads)
        job = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128).bindMemory(to: JobLine.self, capacity: 1)
        job.initialize(to: JobLine())
        next = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128).bindMemory(to: Atomic<Int>.self, capacity: 1)
        next.initialize(to: Atomic(0))
        arrived = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128).bindMemory(to: Atomic<Int>.self, capacity: 1)
        arrived.initialize(to: Atomic(0))
        claims = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128).bindMemory(to: Atomic<Int>.self, capacity: 1)
        claims.initialize(to: Atomic(0))
        done = .allocate(capacity: self.threads * Self.doneStride)
        for i in 0..<(self.threads * Self.doneStride) { (done + i).initialize(to: Atomic(0)) }
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
    /// less than `grain` items per thread runs inline. With `minChunk` > 0 the split is balanced: each part
    /// runs a fixed share of the first three quarters, then all claim the rest in chunks of at least `minChunk`
    /// items (so `body` runs on several ranges per part, in an order that depends on timing).
    public func forEach(_ count: Int, grain: Int = 1, minChunk: Int = 0, _ body: (Range<Int>) -> Void) {
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
        publish(count, parts: t, minChunk: minChunk, body)
    }

    /// Runs `body` once on each of the pool's threads at once (the caller is part 0), in one hand-off: the parts
    /// meet at `RegionPart.barrier()` and split work with `RegionPart.forEach`, so a whole sequence of dependent
    /// steps (a decoded token's layers) costs one hand-off and a barrier per dependency. Where the pool is busy
    /// (nested or concurrent use) or has one thread, `body` runs once as the only part.
    public func region(_ body: (RegionPart) -> Void) {
        let t = min(threads, Parallel.threads)
        guard t > 1, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            body(RegionPart(index: 0, parts: 1, arrived: nil, next: nil))
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        // The workers are idle until the publication below (a sequentially consistent store) makes these visible.
        arrived.pointee.store(0, ordering: .relaxed)
        let (arrived, claims) = (self.arrived, self.claims)
        claims.pointee.store(0, ordering: .relaxed)
        publish(t, parts: t, minChunk: 0) { range in
            for i in range { body(RegionPart(index: i, parts: t, arrived: arrived, next: claims)) }
        }
    }

    /// Publishes a job of `count` items in `parts` parts, runs part 0 and waits for the others.
    private func publish(_ count: Int, parts t: Int, minChunk: Int, _ body: (Range<Int>) -> Void) {
        withoutActuallyEscaping(body) { escapable in
            let box = JobBox(escapable)
            withExtendedLifetime(box) {
                // Only this thread writes the job line (`busy` makes it the one publisher), so it knows the generation.
                let g = job.pointee.published &+ 1
                job.pointee.published = g
                job.pointee.task = UnsafeRawPointer(Unmanaged.passUnretained(box).toOpaque())
                job.pointee.total = count
                job.pointee.parts = Int32(t)
                // A balanced job's claimed tail starts after the fixed shares (at least one chunk per part).
                let tail = minChunk > 0 ? min(count - t, max(count / 4, minChunk * t)) : 0
                job.pointee.head = count - tail
                job.pointee.minChunk = Int32(max(1, min(minChunk, count)))
                next.pointee.store(count - tail, ordering: .relaxed)
                let profiled = StepProfile.counting
                job.pointee.profiled = profiled
                if profiled { (job.pointee.publishedAt, job.pointee.step) = (StepProfile.now(), Int32(StepProfile.current)) }
                job.pointee.generation.store(g, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    pthread_mutex_lock(&mutex)
                    pthread_cond_broadcast(&wake)
                    pthread_mutex_unlock(&mutex)
                }
                if profiled {
                    let t0 = StepProfile.now()
                    run(0)
                    let t1 = StepProfile.now()
                    waitForWorkers(g)
                    StepProfile.handOff(share: t1 &- t0, wait: StepProfile.now() &- t1)
                } else {
                    run(0)
                    waitForWorkers(g)
                }
            }
        }
    }

    @inline(__always) private func waitForWorkers(_ g: Int) {
        for w in 1..<threads {
            while done[w * Self.doneStride].load(ordering: .acquiring) != g {}
        }
    }

    /// Part `i` of the published job: its fixed share of the items, then (balanced jobs) chunks of the tail
    /// while any are left, each claimed as max(minChunk, what is left / (2 · parts)).
    @inline(__always) private func run(_ i: Int) {
        let head = job.pointee.head, parts = Int(job.pointee.parts)
        let lo = head * i / parts, hi = head * (i + 1) / parts
        // The caller keeps the box alive until every part is done: no reference counting across the cores.
        Unmanaged<JobBox>.fromOpaque(job.pointee.task.unsafelyUnwrapped)._withUnsafeGuaranteedRef { box in
            if lo < hi { box.body(lo..<hi) }
            let total = job.pointee.total
            guard head < total else { return }
            let least = Int(job.pointee.minChunk), share = 2 * parts
            var at = next.pointee.load(ordering: .relaxed)
            while at < total {
                let end = min(total, at + max(least, (total - at) / share))
                let (exchanged, seen) = next.pointee.compareExchange(expected: at, desired: end, ordering: .relaxed)
                if exchanged { box.body(at..<end); at = next.pointee.load(ordering: .relaxed) } else { at = seen }
            }
        }
    }

    private func workerLoop(_ index: Int) {
        var seen = 0
        while true {
            var g = job.pointee.generation.load(ordering: .acquiring)
            var spins = 0
            while g == seen && spins < spinLimit { spins += 1; g = job.pointee.generation.load(ordering: .acquiring) }
            if g == seen {
                pthread_mutex_lock(&mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                g = job.pointee.generation.load(ordering: .sequentiallyConsistent)
                while g == seen {
                    pthread_cond_wait(&wake, &mutex)
                    g = job.pointee.generation.load(ordering: .acquiring)
                }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(&mutex)
            }
            seen = g
            if index < Int(job.pointee.parts) {
                if job.pointee.profiled {
                    let t0 = StepProfile.now()
                    StepProfile.workerStarted(index, after: t0 &- min(t0, job.pointee.publishedAt))
                    run(index)
                    StepProfile.workerBusy(index, step: Int(job.pointee.step), StepProfile.now() &- t0)
                } else {
                    run(index)
                }
            }
            done[index * Self.doneStride].store(g, ordering: .releasing)
        }
    }
}

/// What splits a loop's items over threads: the pool's hand-offs, or the parts of a region.
public protocol WorkSplitter {
    /// Calls `body` on disjoint ranges covering `0..<count` (balanced with `minChunk` > 0) and returns when all ran.
    func forEach(_ count: Int, grain: Int, minChunk: Int, _ body: (Range<Int>) -> Void)
}

extension WorkerPool: WorkSplitter {}

extension RegionPart: WorkSplitter {
    /// `forEach(count, minChunk:)`: every part takes part, whatever the grain.
    public func forEach(_ count: Int, grain: Int, minChunk: Int, _ body: (Range<Int>) -> Void) {
        forEach(count, minChunk: minChunk, body)
    }
}

/// One part of a `WorkerPool.region`: its index, the barrier, and balanced splits of work among the parts.
/// Every part must make the same sequence of `barrier()` and `forEach` calls.
public final class RegionPart: @unchecked Sendable {
    /// This part (0 is the caller) and how many run.
    public let index: Int
    public let parts: Int
    private let arrived: UnsafeMutablePointer<Atomic<Int>>?
    private let next: UnsafeMutablePointer<Atomic<Int>>?
    /// Barriers this part has passed, and items claimed in all earlier `forEach` calls (every part's count is the same).
    private var barriers = 0
    private var claimed = 0

    init(index: Int, parts: Int, arrived: UnsafeMutablePointer<Atomic<Int>>?, next: UnsafeMutablePointer<Atomic<Int>>?) {
        (self.index, self.parts, self.arrived, self.next) = (index, parts, arrived, next)
    }

    /// Waits until every part has called `barrier()` as many times as this one: what they wrote before is then visible.
    public func barrier() {
        guard let arrived else { return }
        barriers += 1
        let target = barriers * parts
        let last = arrived.pointee.add(1, ordering: .acquiringAndReleasing).newValue >= target
        if StepProfile.counting {
            let t0 = StepProfile.now()
            if !last { while arrived.pointee.load(ordering: .acquiring) < target {} }
            StepProfile.barrier(wait: StepProfile.now() &- t0)
        } else if !last {
            while arrived.pointee.load(ordering: .acquiring) < target {}
        }
    }

    /// Calls `body` on disjoint ranges covering `0..<count` among the parts, balanced as `WorkerPool.forEach` with
    /// `minChunk` (a fixed share each of the first three quarters, the rest claimed in chunks), then meets the
    /// others at a barrier.
    public func forEach(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard let next, parts > 1 else {
            if count > 0 { body(0..<count) }
            return
        }
        let least = max(1, minChunk)
        let tail = min(max(0, count - parts), max(count / 4, least * parts))
        let head = count - tail
        let lo = head * index / parts, hi = head * (index + 1) / parts
        if lo < hi { body(lo..<hi) }
        // This call's tail is claims claimed ..< claimed + tail of the counter, which no earlier call goes past.
        let base = claimed, end = claimed + tail, share = 2 * parts
        var at = next.pointee.load(ordering: .relaxed)
        while at < end {
            let stop = min(end, at + max(least, (end - at) / share))
            let (exchanged, seen) = next.pointee.compareExchange(expected: at, desired: stop, ordering: .relaxed)
            if exchanged { body((head + at - base)..<(head + stop - base)); at = next.pointee.load(ordering: .relaxed) } else { at = seen }
        }
        claimed = end
        barrier()
    }

    /// Runs `body` on part 0 only, then meets the others at a barrier.
    public func single(_ body: () -> Void) {
        if index == 0 { body() }
        barrier()
    }
}

/// The published job: written by the caller before it stores `generation`, read by the workers after.
private struct JobLine: ~Copyable {
    let generation = Atomic<Int>(0)
    /// The caller's copy of the last generation (only it writes the line).
    var published = 0
    /// The `JobBox` of the body, the item count and the number of parts.
    var task: UnsafeRawPointer?
    var total = 0
    /// Items in the parts' fixed shares (the rest, up to `total`, is claimed in chunks of at least `minChunk`).
    var head = 0
    var parts: Int32 = 0
    var minChunk: Int32 = 1
    /// The profiled thread's step (`StepProfile.current`).
    var step: Int32 = 0
    /// The job comes from the thread being profiled (`StepProfile`), published at `publishedAt`.
    var profiled = false
    var publishedAt: UInt64 = 0
}

/// The published job's body.
private final class JobBox {
    let body: (Range<Int>) -> Void
    init(_ body: @escaping (Range<Int>) -> Void) { self.body = body }
}

private final class WorkerStart {
    let pool: WorkerPool
    let index: Int
    init(pool: WorkerPool, index: Int) { self.pool = pool; self.index = index }
}
