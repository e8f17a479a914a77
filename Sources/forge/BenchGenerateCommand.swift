// forge bench generate: prompt processing and generation speed, measured as llama-bench does.
import ArgumentParser
import ForgeCore
import ForgeInference
import ForgeKernels
import ForgeModels
import Foundation

struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Prompt tokens/s (pp, one batch of -p random tokens) and generation tokens/s (tg, -n tokens one by one).",
        discussion: "Like `llama-bench -p 512 -n 128`: each repetition starts from an empty cache. Prints medians and a JSON line.")

    @Option(help: "A .gguf file or a model directory.") var model: String
    @Option(name: .customShort("p"), help: "Prompt tokens (0: skip).") var promptTokens = 512
    @Option(name: .customShort("n"), help: "Generated tokens (0: skip).") var genTokens = 128
    @Option(name: .customShort("r"), help: "Repetitions.") var repetitions = 5
    @Flag(help: "Also list every repetition's tokens/s in the JSON line (pp_samples, tg_samples).") var samples = false
    @Flag(help: "After the timed repetitions, one more of each, profiled: time per token by step, worker-pool hand-offs and waits.")
    var profile = false
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let m = try ModelLoader.load(model)
        let session = try InferenceSession(model: m, contextLength: max(promptTokens, genTokens) + 1)
        var rng = RNG(seed: 1)
        let vocab = m.config.vocabSize
        // Warm-up: page the weights in and size the caches.
        session.reset()
        _ = try session.forward([Int32(rng.below(vocab))], logits: .last)
        var pp: [Double] = [], tg: [Double] = []
        for _ in 0..<repetitions {
            if promptTokens > 0 {
                let prompt = (0..<promptTokens).map { _ in Int32(rng.below(vocab)) }
                session.reset()
                pp.append(Double(promptTokens) / (try secondsTaken { _ = try session.forward(prompt, logits: .last) }))
            }
            if genTokens > 0 {
                session.reset()
                var next = Int32(rng.below(vocab))
                tg.append(Double(genTokens) / (try secondsTaken {
                    for _ in 0..<genTokens {
                        let logits = try session.forward([next], logits: .last)
                        next = Int32(Sampler.argmax(logits))
                    }
                }))
            }
        }
        func median(_ a: [Double]) -> Double { a.isEmpty ? 0 : a.sorted()[a.count / 2] }
        var profiles: [String: Any] = [:]
        if profile {
            if promptTokens > 0 {
                let prompt = (0..<promptTokens).map { _ in Int32(rng.below(vocab)) }
                session.reset()
                profiles["pp"] = try profiled("pp\(promptTokens)", tokens: promptTokens) { _ = try session.forward(prompt, logits: .last) }
            }
            if genTokens > 0 {
                session.reset()
                var next = Int32(rng.below(vocab))
                profiles["tg"] = try profiled("tg\(genTokens)", tokens: genTokens) {
                    for _ in 0..<genTokens {
                        let logits = try session.forward([next], logits: .last)
                        next = Int32(Sampler.argmax(logits))
                    }
                }
            }
        }
        let bytes = Double(m.bytesPerToken)
        print("model: \(m.summary), \(String(format: "%.1f", bytes / 1e6)) MB of weights read per generated token")
        print("threads: \(Parallel.threads), repetitions: \(repetitions), product order: \(m.productOrder.rawValue) (FORGE_PRODUCT_ORDER), weight prefetch: \(WeightPrefetch.enabled ? "on" : "off") (FORGE_WEIGHT_PREFETCH)")
        if promptTokens > 0 { print(String(format: "pp%-4d %8.1f tokens/s (median)", promptTokens, median(pp))) }
        if genTokens > 0 {
            print(String(format: "tg%-4d %8.1f tokens/s (median), %.1f GB/s of weights", genTokens, median(tg), median(tg) * bytes / 1e9))
        }
        var json: [String: Any] = ["pp_tokens_per_s": median(pp), "tg_tokens_per_s": median(tg), "pp": promptTokens, "tg": genTokens,
                                   "threads": Parallel.threads, "bytes_per_token": m.bytesPerToken,
                                   "product_order": m.productOrder.rawValue]
        if samples { json["pp_samples"] = pp; json["tg_samples"] = tg }
        if profile { json["profile"] = profiles }
        print(String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self))
    }
}

extension BenchGenerate {
    /// Runs `body` (`tokens` tokens) with the step profile on; prints where each microsecond of a token went and
    /// returns the same figures for the JSON line.
    func profiled(_ label: String, tokens: Int, _ body: () throws -> Void) throws -> [String: Any] {
        StepProfile.start(workers: WorkerPool.shared.threads)
        let t0 = StepProfile.now()
        try body()
        let wall = Double(StepProfile.now() - t0) / 1e3 / Double(tokens)
        let p = StepProfile.stop()
        let per = { (ns: UInt64) in Double(ns) / 1e3 / Double(tokens) }
        var steps: [String: Double] = [:]
        print("profile \(label): \(String(format: "%.1f", wall)) µs per token (profiled run; timing adds a little)")
        print("  step          µs/token   share   calls/token")
        var accounted = 0.0
        for step in StepProfile.Step.allCases {
            let us = per(p.nanoseconds[step.rawValue]), calls = Double(p.calls[step.rawValue]) / Double(tokens)
            accounted += us
            steps[step.name] = us
            print("  " + step.name.padding(toLength: 12, withPad: " ", startingAt: 0)
                  + String(format: " %9.1f  %5.1f%%  %8.1f", us, 100 * us / wall, calls))
        }
        steps["other"] = wall - accounted
        print("  other       " + String(format: " %9.1f  %5.1f%%   (sampling, cache bookkeeping, session)", wall - accounted,
                                             100 * (wall - accounted) / wall))
        let handOffs = Double(p.handOffs) / Double(tokens), share = per(p.callerShareNanoseconds), wait = per(p.waitNanoseconds)
        print(String(format: "  worker pool (%d threads): %.1f hand-offs per token; the caller ran its share for %.1f µs and waited %.1f µs "
                     + "(%.1f%% of the token, %.2f µs per hand-off)", WorkerPool.shared.threads, handOffs, share, wait, 100 * wait / wall,
                     handOffs > 0 ? wait / handOffs : 0))
        let busy = p.workerBusyNanoseconds.dropFirst().map(per)
        if !busy.isEmpty {
            print("  workers 1...: busy " + busy.map { String(format: "%.1f µs", $0) }.joined(separator: ", ")
                  + String(format: " per token (the caller's share: %.1f µs)", share))
            let start = p.workerStartNanoseconds.dropFirst().map(per)
            print("  workers 1...: started " + start.map { String(format: "%.1f µs", $0) }.joined(separator: ", ")
                  + " per token after the jobs were published")
            let bounds = StepProfile.waitBounds.map { String(format: "%g", Double($0) / 1e3) }
            let names = ["< \(bounds[0])"] + zip(bounds, bounds.dropFirst()).map { "\($0)–\($1)" } + ["≥ \(bounds.last!)"]
            print("  the caller's waits by length (µs): " + names.indices.map { b in
                String(format: "%@: %.1f/token, %.1f µs", names[b] as NSString, Double(p.waitCounts[b]) / Double(tokens),
                       per(p.waitBucketNanoseconds[b]))
            }.joined(separator: "; "))
            print("  hand-offs by step   per token   caller's share µs   workers' busy µs (mean)   caller's wait µs")
            let workers = Double(max(1, busy.count))
            for (i, name) in (StepProfile.Step.allCases.map(\.name) + ["(none)"]).enumerated() where p.stepHandOffs[i] > 0 {
                print("    " + name.padding(toLength: 12, withPad: " ", startingAt: 0)
                      + String(format: " %11.1f %19.1f %26.1f %18.1f", Double(p.stepHandOffs[i]) / Double(tokens), per(p.stepShareNanoseconds[i]),
                                     per(p.stepWorkerBusyNanoseconds[i]) / workers, per(p.stepWaitNanoseconds[i])))
            }
        }
        let barriers = Double(p.barriers) / Double(tokens), barrierWait = per(p.barrierWaitNanoseconds)
        if p.barriers > 0 {
            print(String(format: "  inside regions: %.1f barriers per token; the caller waited %.1f µs at them (%.1f%% of the token, "
                         + "%.2f µs per barrier)", barriers, barrierWait, 100 * barrierWait / wall, barrierWait / barriers))
            print("  barriers by step    per token   caller's wait µs")
            for (i, name) in (StepProfile.Step.allCases.map(\.name) + ["(none)"]).enumerated() where p.stepBarriers[i] > 0 {
                print("    " + name.padding(toLength: 12, withPad: " ", startingAt: 0)
                      + String(format: " %11.1f %18.1f", Double(p.stepBarriers[i]) / Double(tokens), per(p.stepBarrierWaitNanoseconds[i])))
            }
        }
        return ["us_per_token": wall, "steps_us": steps, "hand_offs_per_token": handOffs, "caller_share_us": share, "wait_us": wait,
                "worker_busy_us": busy, "barriers_per_token": barriers, "barrier_wait_us": barrierWait]
    }
}

struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels", abstract: "Matrix products on random weights in each stored type (one token or --tokens, --threads).")

    @Option(help: "Rows.") var rows = 1536
    @Option(help: "Columns.") var cols = 576
    @Option(help: "Tokens per product (64 or more: the long path unless --path short).") var tokens = 1
    @Option(help: "auto, short or long (WeightMatrix.Path).") var path = "auto"
    @Option(help: "Repetitions (divided by --tokens, at least 3).") var repetitions = 2000
    @Option(help: "Instead of random weights, time this model's own matrices in the order one token reads them.") var model: String?
    @Option(help: "Instead of products, time one layer's attention of one new token over this many cached positions (Float16 cache).")
    var attention: Int?
    @Option(parsing: .upToNextOption, help: "With --attention: query heads, key/value heads, head size (three numbers).") var heads = [9, 3, 64]
    @Flag(help: "With --attention: a prompt of that many tokens over an empty cache (causal, Float32 tiles) instead of one new token.")
    var prompt = false
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        if let model { return try runModel(model) }
        if let attention { return try runAttention(context: attention) }
        let paths: [String: WeightMatrix.Path] = ["auto": .auto, "short": .short, "long": .long]
        guard let path = paths[path] else { throw ValidationError("--path must be auto, short or long") }
        let reps = max(3, repetitions / tokens)
        if WorkerPool.shared.threads > 1 && Parallel.threads > 1 {
            // The fixed cost of one hand-off: an empty job split over the pool, and a job that writes one cache line each.
            let n = 100_000, parts = WorkerPool.shared.threads
            let lines = UnsafeMutablePointer<Int>.allocate(capacity: 16 * parts)
            lines.initialize(repeating: 0, count: 16 * parts)
            defer { lines.deallocate() }
            func us(_ body: () -> Void) -> Double {
                let t0 = ContinuousClock.now
                for _ in 0..<n { body() }
                return (ContinuousClock.now - t0).inSeconds * 1e6 / Double(n)
            }
            let empty = us { WorkerPool.shared.forEach(parts) { _ in } }
            let touch = us { WorkerPool.shared.forEach(parts) { r in for i in r { lines[16 * i] += 1 } } }
            print(String(format: "worker pool hand-off (%d threads): %.2f µs with an empty job, %.2f µs writing one line each", parts, empty, touch))
        }
        var rng = RNG(seed: 7)
        let x = (0..<(cols * tokens)).map { _ in Float(rng.normal()) }
        var y = [Float](repeating: 0, count: rows * tokens)
        for type in [GGMLType.f32, .f16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q6_K] {
            guard cols % type.block.elements == 0 else {
                print("\(type): skipped, \(cols) columns is not a whole number of its \(type.block.elements)-value blocks")
                continue
            }
            let bytes = rows * cols / type.block.elements * type.block.bytes
            var raw = [UInt8](repeating: 0, count: bytes)
            for i in raw.indices { raw[i] = UInt8(truncatingIfNeeded: rng.next()) }
            // Keep the scales (f16 fields) small and finite: rewrite every byte pair as a sane half where types store them.
            if type == .f32 { raw.withUnsafeMutableBytes { p in for i in 0..<(bytes / 4) { p.storeBytes(of: Float(rng.normal()), toByteOffset: 4 * i, as: Float.self) } } }
            if type == .f16 { raw.withUnsafeMutableBytes { p in for i in 0..<(bytes / 2) { p.storeBytes(of: Float16(Float(rng.normal())), toByteOffset: 2 * i, as: Float16.self) } } }
            raw.withUnsafeBytes { w in
                let stored = WeightMatrix(type: type, rows: rows, cols: cols, base: w.baseAddress!)
                for m in WeightMatrix.packs(type) ? [stored, stored.packedForDecode()] : [stored] {
                    let t0 = ContinuousClock.now
                    x.withUnsafeBufferPointer { xb in
                        y.withUnsafeMutableBufferPointer { yb in
                            for _ in 0..<reps {
                                WeightMatrix.multiply([(m, yb.baseAddress!)], xb.baseAddress!, tokens: tokens, path: path)
                            }
                        }
                    }
                    let s = (ContinuousClock.now - t0).inSeconds / Double(reps)
                    let name = "\(type)" + (m.packed == nil ? "" : " packed")
                    print(String(format: "%-12@ %8.1f µs  %6.1f GFLOP/s  %6.1f GB/s", name as NSString, s * 1e6,
                                 2 * Double(rows * cols * tokens) / s / 1e9, Double(bytes) / s / 1e9))
                }
            }
        }
    }
}

extension ProductOrder: ExpressibleByArgument {}

extension BenchKernels {
    /// One token's matrix-vector products over the model's real weights: the layers' matrices, then the output.
    func runModel(_ path: String) throws {
        let m = try ModelLoader.load(path)
        let all = m.network.matrices
        let groups: [(String, [WeightMatrix])] = [("layers", Array(all.dropLast())), ("output", [all.last!])]
        let width = max(m.config.width, m.config.ffnWidth)
        var rng = RNG(seed: 7)
        let x = (0..<width).map { _ in Float(rng.normal()) }
        var y = [Float](repeating: 0, count: m.config.vocabSize + width)
        let reps = min(repetitions, 200)
        for (name, mats) in groups {
            let bytes = mats.reduce(0) { $0 + $1.rows * $1.rowBytes }
            let types = Set(mats.map { "\($0.type)" }).sorted().joined(separator: "+")
            var best = Double.infinity
            x.withUnsafeBufferPointer { xb in
                y.withUnsafeMutableBufferPointer { yb in
                    for _ in 0..<reps {
                        let t0 = ContinuousClock.now
                        for w in mats { w.multiply(xb.baseAddress!, tokens: 1, into: yb.baseAddress!) }
                        best = min(best, (ContinuousClock.now - t0).inSeconds)
                    }
                }
            }
            print(String(format: "%-7@ %-10@ %3d matrices %6.1f MB  %8.1f µs (best of %d)  %6.1f GB/s", name as NSString, types as NSString,
                         mats.count, Double(bytes) / 1e6, best * 1e6, reps, Double(bytes) / best / 1e9))
            guard WorkerPool.shared.threads > 1 && Parallel.threads > 1 else { continue }
            // One more pass, profiled: per product, the caller's share, its wait for the workers and the rest (hand-off, setup).
            StepProfile.start(workers: WorkerPool.shared.threads)
            let t0 = StepProfile.now()
            x.withUnsafeBufferPointer { xb in
                y.withUnsafeMutableBufferPointer { yb in for w in mats { w.multiply(xb.baseAddress!, tokens: 1, into: yb.baseAddress!) } }
            }
            let wall = Double(StepProfile.now() - t0) / 1e3
            let t = StepProfile.stop(), n = Double(max(1, t.handOffs))
            let share = Double(t.callerShareNanoseconds) / 1e3, wait = Double(t.waitNanoseconds) / 1e3
            let busy = t.workerBusyNanoseconds.dropFirst().map { String(format: "%.2f", Double($0) / 1e3 / n) }.joined(separator: ", ")
            print(String(format: "        profiled pass %.1f µs, %d hand-offs; per hand-off: caller's share %.2f µs, its wait %.2f µs, "
                         + "the rest %.2f µs; workers busy %@ µs", wall, t.handOffs, share / n, wait / n, (wall - share - wait) / n, busy as NSString))
        }
    }
}

extension BenchKernels {
    /// One decoded token's attention for one layer (storing its key and value, then attending over `context`
    /// positions), in llama.cpp's floats and in Float32 sums: the best of `repetitions` calls, cold and warm cache.
    func runAttention(context: Int) throws {
        guard heads.count == 3, heads.allSatisfy({ $0 > 0 }), heads[0] % heads[1] == 0 else {
            throw ValidationError("--heads takes three positive numbers: query heads (a multiple of the next), key/value heads, head size")
        }
        guard context >= 1 else { throw ValidationError("--attention must be at least 1") }
        let (h, g, d) = (heads[0], heads[1], heads[2])
        let scale = 1 / Float(d).squareRoot()
        let cache = PagedKVCache(layers: 1, kvWidth: g * d, type: .f16, budget: 1 << 30)
        let id = cache.create()
        try cache.reserve([(id, context)])
        var rng = RNG(seed: 7)
        if prompt {
            // Every call writes the prompt's keys and values and attends all its queries, as a layer of prompt processing does.
            let q = (0..<(context * h * d)).map { _ in Float(rng.normal()) }, kv = (0..<(context * g * d)).map { _ in Float(rng.normal()) }
            var out = [Float](repeating: 0, count: context * h * d)
            var batch = ForwardBatch()
            batch.append(sequence: id, tokens: [Int32](repeating: 0, count: context), at: 0, logits: .last)
            let shape = CacheAttentionShape(heads: h, kvHeads: g, headDim: d, scale: scale, window: nil, exact: false)
            var best = Double.infinity
            for _ in 0..<max(3, min(repetitions, 50)) {
                let t0 = ContinuousClock.now
                cache.attend(layer: 0, batch: batch, q: q, k: kv, v: kv, out: &out, shape: shape)
                best = min(best, (ContinuousClock.now - t0).inSeconds)
            }
            let flops = 4.0 * Double(h * d) * Double(context) * Double(context + 1) / 2
            print(String(format: "prompt attention: %d heads over %d key/value heads of %d, %d tokens: %.1f µs (%.2f µs per token, %.1f GFLOP/s causal)",
                         h, g, d, context, best * 1e6, best * 1e6 / Double(context), flops / best / 1e9))
            return
        }
        let q = (0..<(h * d)).map { _ in Float(rng.normal()) }, kv = (0..<(g * d)).map { _ in Float(rng.normal()) }
        var out = [Float](repeating: 0, count: h * d)
        // Fill the cache with the first context − 1 positions in one call (their keys and values are the same row).
        var batch = ForwardBatch()
        if context > 1 {
            let n = context - 1
            batch.append(sequence: id, tokens: [Int32](repeating: 0, count: n), at: 0, logits: .last)
            let qs = [[Float]](repeating: q, count: n).flatMap { $0 }, kvs = [[Float]](repeating: kv, count: n).flatMap { $0 }
            var outs = [Float](repeating: 0, count: n * h * d)
            cache.attend(layer: 0, batch: batch, q: qs, k: kvs, v: kvs, out: &outs,
                         shape: CacheAttentionShape(heads: h, kvHeads: g, headDim: d, scale: scale, window: nil))
            cache.advance(id, by: n)
        }
        batch = ForwardBatch()
        batch.append(sequence: id, tokens: [0], at: context - 1, logits: .last)
        // A buffer the size of the L2 and L3 caches, read between calls for the cold figure (decoding streams weights between layers).
        let flush = [UInt8](repeating: 1, count: 32 << 20)
        for exact in [true, false] {
            let shape = CacheAttentionShape(heads: h, kvHeads: g, headDim: d, scale: scale, window: nil, exact: exact)
            var best = (cold: Double.infinity, warm: Double.infinity)
            for _ in 0..<max(3, min(repetitions, 500)) {
                // Every thread reads a share of the buffer (so the workers are awake and spinning, as between a token's steps).
                flush.withUnsafeBufferPointer { f in
                    let lines = f.count / 64
                    WorkerPool.shared.forEach(64) { r in
                        var s = 0
                        for i in (r.lowerBound * lines / 64)..<(r.upperBound * lines / 64) { s &+= Int(f[64 * i]) }
                        if s == 42 { print("") }
                    }
                }
                for warm in [false, true] {
                    let t0 = ContinuousClock.now
                    cache.attend(layer: 0, batch: batch, q: q, k: kv, v: kv, out: &out, shape: shape)
                    let s = (ContinuousClock.now - t0).inSeconds
                    if warm { best.warm = min(best.warm, s) } else { best.cold = min(best.cold, s) }
                }
            }
            print(String(format: "attention %@: %d heads over %d key/value heads of %d, %d positions: %.2f µs cold, %.2f µs warm",
                         (exact ? "llama.cpp floats" : "Float32 sums    ") as NSString, h, g, d, context, best.cold * 1e6, best.warm * 1e6))
        }
    }
}

struct BenchLogits: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Teacher-forced logits for token sequences (the format of bench/llama_logits.c), for parity scripts.",
        discussion: "The prompt runs as one batch and every later token alone, as in generation (and as llama_logits.c runs llama.cpp).")

    @Option(help: "A .gguf file or a model directory.") var model: String
    @Option(help: "Input: per sequence int32 n_prompt, n_gen, n_vocab and n_prompt + n_gen token ids (logits are ignored).") var input: String
    @Option(help: "Output: the same layout with Forge's logits at the n_gen positions.") var output: String
    @Option(help: "Key/value cache type: f16 (llama.cpp's) or f32 (for Float32 references).") var cacheType: KVCacheType = .f16
    @Option(help: "Product order of short batches: llama.cpp (its floats, bit for bit) or block (the default elsewhere).")
    var order: ProductOrder = .llamaCpp
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let m = try ModelLoader.load(model)
        m.productOrder = order
        guard let data = FileManager.default.contents(atPath: input) else { throw ForgeError.file(input, "cannot be read") }
        var out = Data()
        var offset = 0
        func int32() throws -> Int {
            guard offset + 4 <= data.count else { throw ForgeError.file(input, "truncated at byte \(offset)") }
            defer { offset += 4 }
            return Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int32.self) })
        }
        while offset < data.count {
            let n = try int32(), gen = try int32(), vocab = try int32()
            guard n > 0, gen > 0, vocab == m.config.vocabSize else { throw ForgeError.file(input, "bad header \(n) \(gen) \(vocab)") }
            let tokens = try (0..<(n + gen)).map { _ in Int32(try int32()) }
            offset += 4 * gen * vocab
            // As llama_logits.c runs llama.cpp: the prompt as one batch, then each given token alone.
            let session = try InferenceSession(model: m, contextLength: n + gen, cacheType: cacheType)
            var logits = try session.forward(Array(tokens.prefix(n)), logits: .last)
            for i in n..<(n + gen - 1) { logits += try session.forward([tokens[i]], logits: .last) }
            for v in [Int32(n), Int32(gen), Int32(vocab)] + tokens { withUnsafeBytes(of: v) { out.append(contentsOf: $0) } }
            logits.withUnsafeBufferPointer { out.append($0) }
        }
        try AtomicFile.write(output, data: out)
    }
}
