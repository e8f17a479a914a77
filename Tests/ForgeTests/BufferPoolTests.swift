@testable import ForgeCore
import Testing

/// The buffer pool's cache: reuse by size, a bound at the most bytes ever alive, least recently used sizes freed first.
@Suite struct BufferPoolTests {
    @Test func reusesBySizeAndStaysWithinTheMostEverAlive() {
        let pool = BufferPool(limitBytes: 1 << 30, floorBytes: 0)
        // A working set of 4 buffers of 1,000 floats: freed and taken again, the same addresses come back.
        let first = (0..<4).map { _ in pool.take(1000) }
        #expect(pool.liveBytes == 16_000)
        for p in first { pool.give(p, capacity: 1000) }
        #expect(pool.cachedBytes == 16_000 && pool.liveBytes == 0)
        let again = (0..<4).map { _ in pool.take(1000) }
        #expect(Set(again) == Set(first), "a steady loop allocates nothing new")
        for p in again { pool.give(p, capacity: 1000) }

        // Then shapes that change every step (ragged batches): each step's sizes are new, and the cache never holds
        // more than the most bytes alive at once, keeping the sizes used last.
        for step in 0..<50 {
            let size = 1001 + step
            let buffers = (0..<4).map { _ in pool.take(size) }
            for p in buffers { pool.give(p, capacity: size) }
            #expect(pool.cachedBytes <= 16 * size, "step \(step): \(pool.cachedBytes) bytes cached, at most \(16 * size) were alive")
        }
        #expect(pool.cachedCounts == [1050: 4], "only the last step's buffers are kept")
        pool.drain()
        #expect(pool.cachedBytes == 0 && pool.cachedCounts.isEmpty)
    }

    @Test func evictsTheLeastRecentlyUsedSizesFirst() {
        let pool = BufferPool(limitBytes: 1 << 30, floorBytes: 0)
        let sizes = Array(1000..<1010)
        let buffers = sizes.map { pool.take($0) }  // 40,180 bytes alive: the bound
        for (p, n) in zip(buffers, sizes) { pool.give(p, capacity: n) }
        #expect(pool.cachedBytes == 40_180)
        pool.give(pool.take(1000), capacity: 1000)  // 1000 becomes the most recently used
        // A new size passes the bound: sizes go, least recently used first, until the cache is at 3/4 of the bound
        // less the new buffer (24,135 bytes): 1001 to 1005; 1000 stays, used last.
        pool.give(pool.take(1500), capacity: 1500)
        #expect(Set(pool.cachedCounts.keys) == Set([1000, 1006, 1007, 1008, 1009, 1500]), "\(pool.cachedCounts.keys.sorted())")
        #expect(pool.cachedBytes <= 40_180)
        pool.drain()
    }

    @Test func aHardLimitBelowTheWorkingSetFreesWhatDoesNotFit() {
        let pool = BufferPool(limitBytes: 10_000, floorBytes: 0)
        let big = pool.take(5000)  // 20,000 bytes: more than the limit
        pool.give(big, capacity: 5000)
        #expect(pool.cachedBytes == 0 && pool.liveBytes == 0)
        let small = pool.take(1000)
        pool.give(small, capacity: 1000)
        #expect(pool.cachedCounts == [1000: 1])
        pool.drain()
    }
}
