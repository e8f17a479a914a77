// WeightArena: packed weights carved from 2 MiB-aligned slabs.
@testable import ForgeKernels
import ForgeCore
import Testing

@Suite struct WeightArenaTests {
    /// Allocations of mixed sizes are 64-byte aligned, never overlap, keep what is written to them, and a slab is
    /// freed with its last allocation; one larger than a slab gets its own, 2 MiB-aligned.
    @Test func allocationsAreAlignedDisjointAndFreed() {
        let arena = WeightArena()
        guard arena.enabled else { return }  // FORGE_HUGE_PAGES=0: plain allocations, nothing to check here
        var rng = RNG(seed: 3)
        var blocks: [(UnsafeMutableRawPointer, Int, WeightArena.Slab?)] = []
        for i in 0..<400 {
            let n = 1 + rng.below(600_000)
            let (p, slab) = arena.allocate(n)
            #expect(Int(bitPattern: p) % 64 == 0)
            p.initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: i), count: n)
            blocks.append((p, n, slab))
        }
        #expect(blocks.allSatisfy { $0.2 != nil })
        let sorted = blocks.sorted { UInt(bitPattern: $0.0) < UInt(bitPattern: $1.0) }
        for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(a.0 + a.1 <= b.0, "allocations overlap") }
        for (i, (p, n, _)) in blocks.enumerated() {
            let want = UInt8(truncatingIfNeeded: i)
            #expect(p.load(as: UInt8.self) == want && p.load(fromByteOffset: n - 1, as: UInt8.self) == want)
        }
        // 400 × 300 KB on average: several 32 MiB slabs.
        let slabs = arena.liveSlabs.load(ordering: .relaxed)
        #expect(slabs >= 3 && slabs <= 6, "\(slabs) slabs")
        let (big, bigSlab) = arena.allocate(40 << 20)
        #expect(Int(bitPattern: big) % (2 << 20) == 0 && bigSlab!.size >= 40 << 20)
        #expect(arena.liveSlabs.load(ordering: .relaxed) == slabs + 1)
        arena.release(bigSlab!)
        for (_, _, slab) in blocks { arena.release(slab!) }
        #expect(arena.liveSlabs.load(ordering: .relaxed) == 0)
        // The arena starts a fresh slab afterwards.
        let (_, again) = arena.allocate(100)
        #expect(arena.liveSlabs.load(ordering: .relaxed) == 1)
        arena.release(again!)
        #expect(arena.liveSlabs.load(ordering: .relaxed) == 0)
    }
}
