// Parallel: the one way Forge spreads work over cores.
//
// Work is split into `Parallel.threads` contiguous, fixed ranges, so the same input always gives
// the same partition and the same floating-point result. BLAS runs single-threaded inside these
// ranges (see `BLAS.configure`), so there is one pool of workers and nothing spins against it.
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Process-wide thread settings and the parallel-for used by every kernel.
public enum Parallel {
    private static let threadCount = Atomic<Int>(Parallel.defaultThreads())

    /// Worker count: `FORGE_THREADS` if set, else the number of online cores.
    public static var threads: Int {
        get { threadCount.load(ordering: .relaxed) }
        set { threadCount.store(max(1, newValue), ordering: .relaxed) }
    }

    static func defaultThreads() -> Int {
        if let s = getenv("FORGE_THREADS"), let n = Int(String(cString: s)), n > 0 { return n }
        return max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }

    /// Calls `body` on `threads` disjoint ranges covering `0..<count`, concurrently, and waits.
    /// Work smaller than `grain` items per thread runs inline on the caller.
    public static func forEach(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        let t = min(threads, max(1, count / max(grain, 1)))
        if t <= 1 || count <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            let box = UncheckedSendable(escapable)
            DispatchQueue.concurrentPerform(iterations: t) { i in
                let lo = count * i / t, hi = count * (i + 1) / t
                if lo < hi { box.value(lo..<hi) }
            }
        }
    }

    /// Calls `body(i)` for every task index, spreading tasks over the workers in a fixed order.
    public static func forEachTask(_ count: Int, _ body: (Int) -> Void) {
        forEach(count) { r in for i in r { body(i) } }
    }
}

/// Carries a value across a concurrency boundary that the caller has proven safe.
public struct UncheckedSendable<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
