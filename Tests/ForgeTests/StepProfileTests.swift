// The step profile behind `forge bench generate --profile`: what it counts for a real model's decoded tokens.
import ForgeCore
import ForgeInference
import Foundation
import Testing

// Serialized: there is one profile per process (`StepProfile.start` takes it from whoever held it), so the two tests
// must not overlap; they did on a Zen 4 host, and each stopped the other's profile.
@Suite(.serialized) struct StepProfileTests {
    /// SmolLM2 (30 layers): each decoded token makes the calls its architecture implies, the timed steps fit inside the
    /// wall time, the profiled thread's hand-offs are counted, and profiling changes no logit.
    @Test func decodedTokensOfSmolLM2() async throws {
        let model = try ModelLoader.load(smolLM2Path)
        model.decodeRegions = false  // (a hand-off per step; the region is profiled below)
        let session = try InferenceSession(model: model, contextLength: 64)
        let prompt: [Int32] = [1, 504, 3458, 282]
        let tokens: [Int32] = [253, 1345, 30]
        _ = try session.forward(prompt, logits: .last)
        var plain: [Float] = []
        for t in tokens { plain += try session.forward([t], logits: .last) }

        // Another test may hold the worker pool through a whole run (the products then fall back to Dispatch and no
        // hand-off is counted): tries, a moment apart, for up to two minutes, until this thread's products hand off.
        var totals: StepProfile.Totals?, profiled: [Float] = [], wall: UInt64 = 0
        let deadline = Date().addingTimeInterval(120)
        for attempt in 0..<1000 {
            if attempt > 0 {
                if Date() > deadline { break }
                try await Task.sleep(for: .milliseconds(100))  // (not Thread.sleep: other tests' tasks need this thread)
            }
            session.reset()
            _ = try session.forward(prompt, logits: .last)
            StepProfile.start(workers: WorkerPool.shared.threads)
            let t0 = StepProfile.now()
            profiled = []
            for t in tokens { profiled += try session.forward([t], logits: .last) }
            wall = StepProfile.now() - t0
            totals = StepProfile.stop()
            if totals!.handOffs > 0 || WorkerPool.shared.threads == 1 || Parallel.threads == 1 { break }
        }
        let p = totals!
        #expect(profiled == plain, "profiling changes no float")

        let L = model.config.layers, n = tokens.count
        let expected: [StepProfile.Step: Int] = [.embed: 1, .norm: 2 * L + 1, .project: 4 * L, .rope: 2 * L, .attention: L,
                                                  .residual: 2 * L, .activation: L, .logits: 1]
        for (step, perToken) in expected {
            #expect(p.calls[step.rawValue] == perToken * n, "\(step): \(p.calls[step.rawValue]) calls for \(n) tokens")
        }
        #expect(p.nanoseconds[StepProfile.Step.project.rawValue] > 0 && p.nanoseconds[StepProfile.Step.logits.rawValue] > 0)
        #expect(p.nanoseconds.reduce(0, +) <= wall, "the steps are disjoint parts of the pass")
        if WorkerPool.shared.threads > 1 && Parallel.threads > 1 {
            // Projections hand off once each (unless another test holds the pool, when they fall back to Dispatch).
            #expect(p.handOffs > 0 && p.handOffs <= 4 * L * n + L * n + n, "\(p.handOffs) hand-offs")
            #expect(p.callerShareNanoseconds + p.waitNanoseconds <= wall)
            #expect(p.workerBusyNanoseconds.dropFirst().allSatisfy { $0 <= wall })
            // The breakdowns add up: waits by length and hand-offs by step cover every hand-off and the whole wait.
            #expect(p.waitCounts.reduce(0, +) == p.handOffs && p.waitBucketNanoseconds.reduce(0, +) == p.waitNanoseconds)
            #expect(p.stepHandOffs.reduce(0, +) == p.handOffs && p.stepWaitNanoseconds.reduce(0, +) == p.waitNanoseconds)
            #expect(p.stepShareNanoseconds.reduce(0, +) == p.callerShareNanoseconds)
            // One token's hand-offs come from products, attention and the logits (one each), none from elsewhere.
            let handing: [StepProfile.Step] = [.project, .attention, .logits]
            #expect(handing.map { p.stepHandOffs[$0.rawValue] }.reduce(0, +) == p.handOffs)
            #expect(p.stepHandOffs[StepProfile.Step.logits.rawValue] <= n)
            #expect(p.stepWorkerBusyNanoseconds.reduce(0, +) == p.workerBusyNanoseconds.dropFirst().reduce(0, +))
            #expect(p.workerStartNanoseconds.dropFirst().allSatisfy { $0 <= wall })
        }
        // Off again: nothing more is counted.
        _ = try session.forward([42], logits: .last)
        #expect(StepProfile.stop().calls == p.calls)
    }

    /// SmolLM2 decoding in a region (`WorkerPool.region`): one hand-off per token, and a barrier after every product
    /// (4 per layer and the logits) and two in each layer's attention (the stored key/value row, the heads), counted by step.
    @Test func decodedTokensInARegion() async throws {
        let model = try ModelLoader.load(smolLM2Path)
        model.decodeRegions = true
        let session = try InferenceSession(model: model, contextLength: 64)
        let prompt: [Int32] = [1, 504, 3458, 282], tokens: [Int32] = [253, 1345, 30]
        var totals: StepProfile.Totals?, wall: UInt64 = 0
        let deadline = Date().addingTimeInterval(120)
        for attempt in 0..<1000 {
            if attempt > 0 {
                if Date() > deadline { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            session.reset()
            _ = try session.forward(prompt, logits: .last)
            StepProfile.start(workers: WorkerPool.shared.threads)
            let t0 = StepProfile.now()
            for t in tokens { _ = try session.forward([t], logits: .last) }
            wall = StepProfile.now() - t0
            totals = StepProfile.stop()
            // (While another test holds the pool, a token's region runs as one part and meets no barrier: try again.)
            if totals!.handOffs == tokens.count || WorkerPool.shared.threads == 1 || Parallel.threads == 1 { break }
        }
        let p = totals!, L = model.config.layers, n = tokens.count
        let expected: [StepProfile.Step: Int] = [.embed: 1, .norm: 2 * L + 1, .project: 4 * L, .rope: 0, .attention: L,
                                                  .residual: 2 * L, .activation: L, .logits: 1]
        for (step, perToken) in expected {
            #expect(p.calls[step.rawValue] == perToken * n, "\(step): \(p.calls[step.rawValue]) calls for \(n) tokens")
        }
        #expect(p.nanoseconds.reduce(0, +) <= wall, "the steps are disjoint parts of the pass")
        if WorkerPool.shared.threads > 1 && Parallel.threads > 1 {
            #expect(p.handOffs == n, "one hand-off per token, not \(p.handOffs)")
            #expect(p.stepBarriers[StepProfile.Step.project.rawValue] == 4 * L * n)
            #expect(p.stepBarriers[StepProfile.Step.attention.rawValue] == 2 * L * n)
            #expect(p.stepBarriers[StepProfile.Step.logits.rawValue] == n)
            #expect(p.barriers == (6 * L + 1) * n && p.stepBarriers.reduce(0, +) == p.barriers)
            #expect(p.stepBarrierWaitNanoseconds.reduce(0, +) == p.barrierWaitNanoseconds && p.barrierWaitNanoseconds <= wall)
        }
    }
}
