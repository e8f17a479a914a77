// BufferPool: recycles aligned Float32 buffers by exact size, so steady-state training
// allocates nothing from the system and faults in no new pages. What it keeps is bounded by the most bytes ever alive
// at once (a step's working set, so a steady loop still reuses everything) and by a hard limit; past the bound the
// sizes used least recently are freed first, so shapes that change step after step (GRPO's rollouts, ragged batches)
// do not pile up dead sizes.
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A thread-safe cache of freed 64-byte-aligned Float32 buffers, keyed by element count.
public final class BufferPool: Sendable {
    /// The process-wide pool used by every `Tensor`.
    public static let shared = BufferPool(limitBytes: 8 << 30)

    private struct State {
        var free: [Int: [UInt]] = [:]  // addresses, so the state is Sendable
        var lastUse: [Int: UInt64] = [:]  // per size, the tick of its last take or give
        var tick: UInt64 = 0
        var cachedBytes = 0
        var liveBytes = 0
        var peakLiveBytes = 0
        var mostLiveBytes = 0  // never reset: the bound of the cache
        var meters: [UInt: (live: Int, peak: Int)] = [:]  // by thread, see `measuringPeak`
    }
    private let state = Mutex(State())
    private let limitBytes: Int
    private let floorBytes: Int

    /// A pool that keeps at most `limitBytes`, and at most the most bytes ever alive at once (but never less than
    /// `floorBytes`).
    init(limitBytes: Int, floorBytes: Int = 64 << 20) { (self.limitBytes, self.floorBytes) = (limitBytes, floorBytes) }

    /// A buffer of `count` floats with arbitrary contents.
    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let reused: UInt? = state.withLock { s in
            s.liveBytes += count * 4
            s.peakLiveBytes = max(s.peakLiveBytes, s.liveBytes)
            s.mostLiveBytes = max(s.mostLiveBytes, s.liveBytes)
            s.tick &+= 1
            s.lastUse[count] = s.tick
            if !s.meters.isEmpty, var m = s.meters[currentThreadID()] {
                m.live += count * 4
                m.peak = max(m.peak, m.live)
                s.meters[currentThreadID()] = m
            }
            guard var list = s.free[count], let p = list.popLast() else { return nil }
            s.free[count] = list
            s.cachedBytes -= count * 4
            return p
        }
        if let address = reused { return UnsafeMutablePointer(bitPattern: address)! }
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 16) * MemoryLayout<Float>.stride
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes")
        }
        return raw.bindMemory(to: Float.self, capacity: max(count, 16))
    }

    /// Returns a buffer; it is cached, freeing the least recently used sizes if the cache would pass its bound.
    func give(_ p: UnsafeMutablePointer<Float>, capacity: Int) {
        let bytes = capacity * 4
        let (kept, evicted) = state.withLock { s -> (Bool, [UInt]) in
            s.liveBytes -= bytes
            if !s.meters.isEmpty, s.meters[currentThreadID()] != nil { s.meters[currentThreadID()]!.live -= bytes }
            s.tick &+= 1
            s.lastUse[capacity] = s.tick
            let bound = min(limitBytes, max(floorBytes, s.mostLiveBytes))
            var evicted: [UInt] = []
            if s.cachedBytes + bytes > bound {
                // Down to three quarters of the bound, so eviction scans run once per many gives.
                evicted = Self.evict(&s, downTo: bound * 3 / 4 - bytes, sparing: capacity)
            }
            guard s.cachedBytes + bytes <= bound else { return (false, evicted) }
            s.free[capacity, default: []].append(UInt(bitPattern: p))
            s.cachedBytes += bytes
            return (true, evicted)
        }
        if !kept { free(p) }
        for address in evicted { free(UnsafeMutableRawPointer(bitPattern: address)) }
    }

    /// Removes whole sizes from the cache, least recently used first (never `sparing`), until it holds at most
    /// `target` bytes; returns their addresses to free outside the lock.
    private static func evict(_ s: inout State, downTo target: Int, sparing: Int) -> [UInt] {
        var out: [UInt] = []
        let order = s.free.keys.filter { $0 != sparing && !(s.free[$0]?.isEmpty ?? true) }
            .sorted { s.lastUse[$0, default: 0] < s.lastUse[$1, default: 0] }
        for size in order where s.cachedBytes > target {
            let list = s.free.removeValue(forKey: size) ?? []
            s.cachedBytes -= list.count * size * 4
            out += list
        }
        if s.lastUse.count > 4 * max(s.free.count, 256) {  // forget sizes that hold nothing
            s.lastUse = s.lastUse.filter { s.free[$0.key] != nil }
        }
        return out
    }

    /// Bytes of tensors alive now, and the most alive at once since the last `resetPeak()`.
    public var liveBytes: Int { state.withLock { $0.liveBytes } }
    public var peakLiveBytes: Int { state.withLock { $0.peakLiveBytes } }
    /// Bytes of freed buffers kept for reuse.
    public var cachedBytes: Int { state.withLock { $0.cachedBytes } }
    /// How many buffers of each size are kept.
    var cachedCounts: [Int: Int] { state.withLock { $0.free.compactMapValues { $0.isEmpty ? nil : $0.count } } }

    /// Starts a new peak measurement from the bytes alive now.
    public func resetPeak() { state.withLock { $0.peakLiveBytes = $0.liveBytes } }

    /// Runs `body` and returns the most bytes it held alive at once, counting only buffers taken and given back on
    /// the calling thread, so tests and other work running beside it do not move the figure.
    public func measuringPeak<T>(_ body: () throws -> T) rethrows -> (result: T, peakBytes: Int) {
        let id = currentThreadID()
        state.withLock { $0.meters[id] = (0, 0) }
        defer { state.withLock { _ = $0.meters.removeValue(forKey: id) } }
        let result = try body()
        return (result, state.withLock { $0.meters[id]!.peak })
    }

    /// Frees every cached buffer.
    public func drain() {
        let all = state.withLock { s -> [UInt] in
            let all = s.free.values.flatMap { $0 }
            s.free = [:]
            s.cachedBytes = 0
            return all
        }
        for address in all { free(UnsafeMutableRawPointer(bitPattern: address)) }
    }
}

/// The calling thread's identity as a number (pthread_t is an integer on Linux and a pointer on Darwin).
@inline(__always) private func currentThreadID() -> UInt {
    #if canImport(Darwin)
    UInt(bitPattern: pthread_self())
    #else
    UInt(pthread_self())
    #endif
}
