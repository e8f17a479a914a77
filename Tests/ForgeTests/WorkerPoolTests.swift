// The worker pool's splits: fixed shares, and balanced jobs whose tail the parts claim as they finish.
@testable import ForgeCore
import Foundation
import Synchronization
import Testing

@Suite struct WorkerPoolTests {
    /// `count` atomics set to `value` (an array cannot hold them).
    func counters(_ count: Int, _ value: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        let p = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: count)
        for i in 0..<count { (p + i).initialize(to: Atomic(value)) }
        return p
    }

    /// Every item runs exactly once, in non-empty ranges inside 0..<count, for fixed and balanced splits of many sizes.
    @Test func everyItemRunsOnce() {
        let pool = WorkerPool(threads: 2)
        for count in [1, 2, 3, 7, 16, 100, 1001] {
            for minChunk in [0, 1, 3, 50] {
                let hits = counters(count, 0)
                defer { hits.deallocate() }
                let calls = Atomic<Int>(0), bad = Atomic<Int>(0)
                pool.forEach(count, minChunk: minChunk) { range in
                    calls.add(1, ordering: .relaxed)
                    if range.isEmpty || range.lowerBound < 0 || range.upperBound > count { bad.add(1, ordering: .relaxed) }
                    for i in range where i >= 0 && i < count { hits[i].add(1, ordering: .relaxed) }
                }
                #expect(bad.load(ordering: .relaxed) == 0, "\(count) items, minChunk \(minChunk): a range out of bounds or empty")
                let counts = (0..<count).map { hits[$0].load(ordering: .relaxed) }
                #expect(counts.allSatisfy { $0 == 1 }, "\(count) items, minChunk \(minChunk): \(counts.filter { $0 != 1 }.count) items not run once")
                if minChunk == 0 { #expect(calls.load(ordering: .relaxed) <= 2, "a fixed split calls the body once per part") }
            }
        }
    }

    /// A balanced job: while the part holding item 0 is held up, the other part runs the whole claimed tail.
    @Test func aSlowPartLeavesTheTailToTheOthers() {
        let pool = WorkerPool(threads: 2)
        guard min(pool.threads, Parallel.threads) > 1 else { return }  // one core: the job runs inline
        let count = 1000
        let owner = counters(count, -1)
        defer { owner.deallocate() }
        let slow = Atomic<Int>(0)  // the thread id of the held-up part
        pool.forEach(count, minChunk: 10) { range in
            let me = Int(bitPattern: pthread_self())
            if range.contains(0) {
                slow.store(me, ordering: .relaxed)
                Thread.sleep(forTimeInterval: 0.2)
            }
            for i in range { owner[i].store(me, ordering: .relaxed) }
        }
        let held = slow.load(ordering: .relaxed)
        let tail = (750..<count).map { owner[$0].load(ordering: .relaxed) }
        #expect(tail.allSatisfy { $0 != held && $0 != -1 }, "\(tail.filter { $0 == held }.count) tail items waited for the slow part")
        // The same job with a fixed split: the held-up part keeps its half.
        pool.forEach(count) { range in
            let me = Int(bitPattern: pthread_self())
            if range.contains(0) { slow.store(me, ordering: .relaxed) }
            for i in range { owner[i].store(me, ordering: .relaxed) }
        }
        #expect((0..<(count / 2)).allSatisfy { owner[$0].load(ordering: .relaxed) == slow.load(ordering: .relaxed) })
    }

    /// A region runs its body once per part; consecutive `forEach` calls inside it (balanced, of many sizes) run every
    /// item exactly once; and what a part writes before a barrier is what the others read after it.
    @Test func regionsSplitWorkAndMeetAtBarriers() {
        let pool = WorkerPool(threads: 2)
        let counts = [1, 2, 3, 7, 16, 100, 1001, 0, 5]
        let hits = counters(counts.count * 1001, 0), seen = counters(2, -1)
        defer { hits.deallocate(); seen.deallocate() }
        let parts = Atomic<Int>(0), stale = Atomic<Int>(0), bad = Atomic<Int>(0)
        let slots = UnsafeMutablePointer<Int>.allocate(capacity: 2 * 64)
        slots.initialize(repeating: 0, count: 2 * 64)
        defer { slots.deallocate() }
        pool.region { part in
            parts.add(1, ordering: .relaxed)
            seen[part.index].store(part.parts, ordering: .relaxed)
            for (c, count) in counts.enumerated() {
                part.forEach(count, minChunk: c % 3 == 0 ? 1 : 7) { range in
                    if range.isEmpty || range.upperBound > count { bad.add(1, ordering: .relaxed) }
                    for i in range where i < count { hits[c * 1001 + i].add(1, ordering: .relaxed) }
                }
            }
            // Plain (non-atomic) writes, then a barrier, then each part reads the other's.
            for round in 1...200 {
                slots[part.index * 64] = round * 10 + part.index
                part.barrier()
                for other in 0..<part.parts where slots[other * 64] != round * 10 + other { stale.add(1, ordering: .relaxed) }
                part.barrier()
            }
            part.single { slots[0] = -1 }
            if slots[0] != -1 { stale.add(1, ordering: .relaxed) }
        }
        let expected = min(pool.threads, Parallel.threads)
        #expect(parts.load(ordering: .relaxed) == expected, "the body runs once per part")
        #expect((0..<expected).allSatisfy { seen[$0].load(ordering: .relaxed) == expected })
        #expect(bad.load(ordering: .relaxed) == 0, "a range out of bounds or empty")
        for (c, count) in counts.enumerated() {
            let runs = (0..<count).map { hits[c * 1001 + $0].load(ordering: .relaxed) }
            #expect(runs.allSatisfy { $0 == 1 }, "forEach \(c) of \(count) items: \(runs.filter { $0 != 1 }.count) items not run once")
        }
        #expect(stale.load(ordering: .relaxed) == 0, "a write before a barrier was not seen after it")
    }

    /// Inside a running job or region, a region runs as one part (barriers pass at once) rather than waiting on a pool
    /// that is busy.
    @Test func aNestedRegionRunsAlone() {
        let pool = WorkerPool(threads: 2)
        let inner = Atomic<Int>(0), items = Atomic<Int>(0)
        pool.region { outer in
            if outer.index == 0 {
                pool.region { part in
                    inner.add(part.parts, ordering: .relaxed)
                    part.barrier()
                    part.forEach(10) { items.add($0.count, ordering: .relaxed) }
                }
            }
        }
        #expect(inner.load(ordering: .relaxed) == 1 && items.load(ordering: .relaxed) == 10)
    }
}
