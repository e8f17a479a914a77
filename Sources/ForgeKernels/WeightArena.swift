// WeightArena: memory for packed weight copies, in 2 MiB-aligned slabs that Linux may back with huge pages.
//
// Decoding streams every weight once per token (~100 MB for SmolLM2). With 4 KiB pages that is a TLB miss and a
// restart of the hardware prefetcher every 4 KiB; slabs marked MADV_HUGEPAGE (honoured when transparent huge
// pages are "always" or "madvise") turn that into one page per 2 MiB. Matrices are carved from shared slabs, so
// small ones share huge pages too; a slab is freed when the last matrix in it is. FORGE_HUGE_PAGES=0 turns the
// arena off (plain 64-byte-aligned allocations), for comparisons.
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class WeightArena: @unchecked Sendable {
    static let shared = WeightArena()

    /// One slab: its memory, bytes handed out, and live allocations in it.
    final class Slab: @unchecked Sendable {
        let base: UnsafeMutableRawPointer
        let size: Int
        var used = 0
        var live = 0
        init(base: UnsafeMutableRawPointer, size: Int) { self.base = base; self.size = size }
    }

    static let page = 2 << 20
    static let slabSize = 32 << 20
    let enabled: Bool
    private let lock = Mutex<Slab?>(nil)
    /// Slabs allocated and not yet freed (for tests).
    let liveSlabs = Atomic<Int>(0)

    init() {
        enabled = getenv("FORGE_HUGE_PAGES").map { String(cString: $0) != "0" } ?? true
    }

    /// `byteCount` bytes aligned to 64, and the slab to release them to (nil: plain allocation, free it yourself).
    func allocate(_ byteCount: Int) -> (UnsafeMutableRawPointer, Slab?) {
        guard enabled else { return (.allocate(byteCount: max(byteCount, 1), alignment: 64), nil) }
        let need = (max(byteCount, 1) + 63) / 64 * 64
        return lock.withLock { current in
            if let slab = current, slab.size - slab.used >= need {
                let p = slab.base + slab.used
                slab.used += need
                slab.live += 1
                return (p, slab)
            }
            let size = max(Self.slabSize, (need + Self.page - 1) / Self.page * Self.page)
            var raw: UnsafeMutableRawPointer?
            guard posix_memalign(&raw, Self.page, size) == 0, let base = raw else {
                return (.allocate(byteCount: need, alignment: 64), nil)
            }
            #if os(Linux)
            _ = madvise(base, size, MADV_HUGEPAGE)
            #endif
            liveSlabs.add(1, ordering: .relaxed)
            let slab = Slab(base: base, size: size)
            slab.used = need
            slab.live = 1
            // A big matrix gets a slab of its own; the shared slab stays the one with room.
            if current == nil || need < Self.slabSize { current = slab }
            return (base, slab)
        }
    }

    /// Gives back an allocation from `slab`; the slab's memory is freed with its last allocation.
    func release(_ slab: Slab) {
        lock.withLock { current in
            slab.live -= 1
            guard slab.live == 0 else { return }
            if current === slab { current = nil }
            free(slab.base)
            liveSlabs.subtract(1, ordering: .relaxed)
        }
    }
}
