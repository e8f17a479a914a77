// forge bench generate: prompt processing and generation speed, measured as llama-bench does.
import ArgumentParser
import ForgeCore
import ForgeInference
import ForgeKernels
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
        func seconds(_ body: () throws -> Void) rethrows -> Double {
            let t = ContinuousClock.now
            try body()
            let d = ContinuousClock.now - t
            return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        }
        // Warm-up: page the weights in and size the caches.
        session.reset()
        _ = try session.forward([Int32(rng.below(vocab))], logits: .last)
        var pp: [Double] = [], tg: [Double] = []
        for _ in 0..<repetitions {
            if promptTokens > 0 {
                let prompt = (0..<promptTokens).map { _ in Int32(rng.below(vocab)) }
                session.reset()
                pp.append(Double(promptTokens) / (try seconds { _ = try session.forward(prompt, logits: .last) }))
            }
            if genTokens > 0 {
                session.reset()
                var next = Int32(rng.below(vocab))
                tg.append(Double(genTokens) / (try seconds {
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
        print("threads: \(Parallel.threads), repetitions: \(repetitions), product order: \(m.productOrder.rawValue) (FORGE_PRODUCT_ORDER)")
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
        }
        return ["us_per_token": wall, "steps_us": steps, "hand_offs_per_token": handOffs, "caller_share_us": share, "wait_us": wait,
                "worker_busy_us": busy]
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
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        if let model { return try runModel(model) }
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
                let d = ContinuousClock.now - t0
                return (Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18) * 1e6 / Double(n)
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
                    let d = ContinuousClock.now - t0
                    let s = (Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18) / Double(reps)
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
                        let d = ContinuousClock.now - t0
                        best = min(best, Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
                    }
                }
            }
            print(String(format: "%-7@ %-10@ %3d matrices %6.1f MB  %8.1f µs (best of %d)  %6.1f GB/s", name as NSString, types as NSString,
                         mats.count, Double(bytes) / 1e6, best * 1e6, reps, Double(bytes) / best / 1e9))
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
