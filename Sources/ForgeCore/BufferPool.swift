// BufferPool: recycles aligned Float32 buffers by exact size, so steady-state training
// allocates nothing from the system and faults in no new pages.
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
        var cachedBytes = 0
        var liveBytes = 0
        var peakLiveBytes = 0
        var meters: [UInt: (live: Int, peak: Int)] = [:]  // by thread, see `measuringPeak`
    }
    private let state = Mutex(State())
    private let limitBytes: Int

    init(limitBytes: Int) { self.limitBytes = limitBytes }

    /// A buffer of `count` floats with arbitrary contents.
    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let reused: UInt? = state.withLock { s in
            s.liveBytes += count * 4
            s.peakLiveBytes = max(s.peakLiveBytes, s.liveBytes)
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

    /// Returns a buffer; it is cached unless the pool is full.
    func give(_ p: UnsafeMutablePointer<Float>, capacity: Int) {
        let kept = state.withLock { s -> Bool in
            s.liveBytes -= capacity * 4
            if !s.meters.isEmpty, s.meters[currentThreadID()] != nil { s.meters[currentThreadID()]!.live -= capacity * 4 }
            guard s.cachedBytes + capacity * 4 <= limitBytes else { return false }
            s.free[capacity, default: []].append(UInt(bitPattern: p))
            s.cachedBytes += capacity * 4
            return true
        }
        if !kept { free(p) }
    }

    /// Bytes of tensors alive now, and the most alive at once since the last `resetPeak()`.
    public var liveBytes: Int { state.withLock { $0.liveBytes } }
    public var peakLiveBytes: Int { state.withLock { $0.peakLiveBytes } }

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
