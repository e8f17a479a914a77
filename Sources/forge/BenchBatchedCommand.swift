// forge bench batched: aggregate decoding speed of many sequences at once, measured as llama-batched-bench does.
import ArgumentParser
import ForgeCore
import ForgeInference
import ForgeKernels
import ForgeModels
import Foundation

struct BenchBatched: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batched",
        abstract: "Prompt and generation tokens/s for B sequences decoding together (as llama-batched-bench).",
        discussion: """
        For each B in --npl: B sequences each get their own --npp random prompt tokens, decoded in one request (steps of up \
        to 512 rows, logits of each prompt's last token: T_PP); then --ntg steps each run one random token of every \
        sequence with its logits (T_TG). S_PP = B·npp / T_PP and S_TG = B·ntg / T_TG, as llama-batched-bench prints them. \
        One JSON line per B; bench/batched.sh runs llama-batched-bench beside it.

        Example: forge bench batched --model SmolLM2-135M-Instruct.Q4_1.gguf --npl 1,2,4,8,16
        """)

    @Option(help: "A .gguf file or a model directory.") var model: String
    @Option(help: "Prompt tokens per sequence.") var npp = 128
    @Option(help: "Generated tokens per sequence.") var ntg = 128
    @Option(help: "Numbers of parallel sequences, comma-separated.") var npl = "1,2,4,8,16"
    @Option(help: "Key/value cache type: f16 or f32.") var cacheType: KVCacheType = .f16
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let sizes = npl.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 > 0 }), npp > 0, ntg > 0 else {
            throw ValidationError("--npl must list positive counts, --npp and --ntg must be positive")
        }
        let m = try ModelLoader.load(model)
        let vocab = m.config.vocabSize
        var rng = RNG(seed: 42)
        // Warm-up, as llama-batched-bench does: 16 tokens of one sequence.
        let warm = try InferenceEngine(model: m, cacheType: cacheType)
        _ = try warm.decode([DecodeRequest(sequence: warm.newSequence(), tokens: (0..<16).map { _ in Int32(rng.below(vocab)) })])
        let macs = m.network.matrices.reduce(0.0) { $0 + Double($1.rows * $1.cols) }
        print("model: \(m.summary); threads \(Parallel.threads); prompt \(npp), generation \(ntg) per sequence")
        print(String(format: "%4@ %10@ %10@ %10@ %10@ %12@", "B", "T_PP s", "S_PP t/s", "T_TG s", "S_TG t/s", "GOP/s (TG)"))
        var lines: [String] = []
        for b in sizes {
            let engine = try InferenceEngine(model: m, contextLength: min(m.config.contextLength, npp + ntg), cacheType: cacheType)
            let seqs = (0..<b).map { _ in engine.newSequence() }
            let prompts = seqs.map { s in DecodeRequest(sequence: s, tokens: (0..<npp).map { _ in Int32(rng.below(vocab)) }) }
            let tpp = try secondsTaken { _ = try engine.decode(prompts) }
            var steps: [[DecodeRequest]] = []
            for _ in 0..<ntg { steps.append(seqs.map { DecodeRequest(sequence: $0, tokens: [Int32(rng.below(vocab))]) }) }
            let ttg = try secondsTaken { for s in steps { _ = try engine.decode(s) } }
            let spp = Double(b * npp) / tpp, stg = Double(b * ntg) / ttg
            print(String(format: "%4d %10.3f %10.1f %10.3f %10.1f %12.1f", b, tpp, spp, ttg, stg, 2 * macs * stg / 1e9))
            let json: [String: Any] = ["pl": b, "pp": npp, "tg": ntg, "t_pp": tpp, "speed_pp": spp, "t_tg": ttg, "speed_tg": stg,
                                       "threads": Parallel.threads, "macs_per_token": macs,
                                       "kv_cache_bytes": engine.cache.usage.bytes]
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self))
        }
        // The compute ceiling of these kernels here: the model's own matrices against 64 tokens at once.
        let x = [Float](repeating: 0.25, count: 64 * m.network.matrices.map(\.cols).max()!)
        var y = [Float](repeating: 0, count: 64 * m.network.matrices.map(\.rows).max()!)
        var best = Double.infinity
        for _ in 0..<3 {
            let t = try secondsTaken {
                x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
                    for w in m.network.matrices { WeightMatrix.multiply([(w, yb.baseAddress!)], xb.baseAddress!, tokens: 64, path: .short) }
                } }
            }
            best = min(best, t)
        }
        print(String(format: "ceiling: the same integer kernels with 64 tokens per weight read: %.1f GOP/s (%.0f tokens/s)",
                     2 * macs * 64 / best / 1e9, 64 / best))
        for l in lines { print(l) }
    }
}
