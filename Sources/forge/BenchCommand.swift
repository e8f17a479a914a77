// forge bench: speed measurements, each printed beside the machine's own ceiling from the same run.
import ArgumentParser
import ForgeAutograd
import ForgeCore
import ForgeKernels
import ForgeData
import ForgeModels
import ForgeTokenizer
import ForgeTrain
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks.", subcommands: [BenchTrain.self, BenchTokenizer.self, BenchDedup.self, BenchGenerate.self, BenchBatched.self, BenchKernels.self, BenchLogits.self, BenchAllreduce.self,
                                                                  BenchIndex.self, BenchStructured.self])
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training throughput on the reference config (GPT-2 style, vocab 8192, 6×384, ctx 256, batch 8).",
        discussion: "Example: forge bench train --steps 10")

    @Option(help: "Measured steps after warm-up.") var steps = 8
    @Option(help: "Warm-up steps.") var warmup = 2
    @Option(help: "gpt2 or llama.") var arch = "gpt2"
    @Option(help: "Batch size.") var batch = 8
    @Option(help: "Sequence length.") var seq = 256
    @Flag(help: "Recompute each block in the backward pass (activation checkpointing).") var checkpointActivations = false
    @Option(help: "Optimizer of the hidden matrices: adamw or muon.") var optimizer: OptimizerKind = .adamw
    @Option(help: "Matrix products: fp32 or bf16 (see forge pretrain --help).") var precision: Precision = .fp32
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let plan = MixedPrecision.plan(precision)
        if let message = plan.message { FileHandle.standardError.write(Data((message + "\n").utf8)) }
        try plan.apply { try measure() }
    }

    func measure() throws {
        let arch = Architecture(rawValue: arch)
        let config = TransformerConfig(architecture: arch, vocabSize: 8192, contextLength: seq, width: 384, layers: 6, heads: 6)
        let model = try Transformer(config: config, seed: 1)
        model.checkpointing = checkpointActivations
        let opt = AdamW(groups: model.parameterGroups(weightDecay: 0.1, muon: optimizer == .muon))
        BufferPool.shared.resetPeak()
        var rng = RNG(seed: 7)
        let tokens = (0..<(batch * seq)).map { _ in Int32(rng.below(config.vocabSize)) }
        let targets = (0..<(batch * seq)).map { _ in Int32(rng.below(config.vocabSize)) }
        var times: [Double] = []
        for i in 0..<(warmup + steps) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let tape = Tape()
            let loss = model.loss(tape, tokens: tokens, targets: targets, batch: batch, seq: seq)
            tape.backward(loss)
            opt.update(lr: 1e-4, clipNorm: 1)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if i >= warmup { times.append(dt) }
            print(String(format: "step %d  loss %.4f  %.3f s", i, loss.value.data[0], dt))
        }
        times.sort()
        let median = times[times.count / 2], best = times[0]
        let tokensPerStep = Double(batch * seq)
        let flopsPerToken = 3 * config.forwardFLOPsPerToken(seq: seq)
        let gemm = measureSGEMM()
        print(String(format: "parameters %d   training FLOPs/token %.1f M   threads %d   BLAS kernels %@",
                     config.parameterCount, flopsPerToken / 1e6, Parallel.threads, BLAS.coreName))
        print(String(format: "tokens/s  median %.0f  best %.0f   peak tensor memory %.0f MB%@", tokensPerStep / median,
                     tokensPerStep / best, Double(BufferPool.shared.peakLiveBytes) / 1e6,
                     checkpointActivations ? " (activation checkpointing)" : ""))
        print(String(format: "model GFLOP/s median %.1f   SGEMM GFLOP/s (2048x384x1536, same run) %.1f   ratio %.2f",
                     tokensPerStep / median * flopsPerToken / 1e9, gemm, tokensPerStep / median * flopsPerToken / 1e9 / gemm))
    }

    func measureSGEMM() -> Double {
        let (m, k, n) = (2048, 384, 1536)
        let a = Tensor(shape: [m, k]), b = Tensor(shape: [n, k]), c = Tensor(shape: [m, n])
        a.fill(0.01); b.fill(0.02)
        var best = 0.0
        for _ in 0..<10 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            BLAS.parallelSgemm(transA: false, transB: true, m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: k, beta: 0, c: c.data, ldc: n)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = max(best, 2.0 * Double(m * n * k) / dt / 1e9)
        }
        return best
    }
}

struct BenchTokenizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Encoding speed (one call, and documents batched over threads) and BPE training time.",
        discussion: """
        Example: forge bench tokenizer --tokenizer smollm2.gguf --train-vocab 8192 texts/*.txt
        Prints one JSON object per measurement; bench/tokenizer.py runs the peers beside it.
        """)

    @Argument(help: "Corpus files (each one a document).") var files: [String]
    @Option(help: "Tokenizer to time (tokenizer.json, GGUF or model dir).") var tokenizer: String?
    @Option(help: "Also time training a vocabulary of this size on the corpus (0: skip).") var trainVocab = 0
    @Option(help: "Repetitions (best time is reported).") var repeats = 3
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let docs = try files.map { try String(contentsOfFile: $0, encoding: .utf8) }
        let whole = docs.joined()
        let mb = Double(whole.utf8.count) / 1e6
        func best(_ body: () throws -> Void) rethrows -> Double {
            var t = Double.infinity
            for _ in 0..<repeats {
                let t0 = DispatchTime.now().uptimeNanoseconds
                try body()
                t = min(t, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            return t
        }
        if let tokenizer {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let tok = try TokenizerLoader.load(tokenizer)
            let load = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            print(String(format: #"{"what": "load", "seconds": %.4f, "vocab": %d}"#, load, tok.vocabSize))
            var count = 0
            let single = best { count = tok.encode(whole).count }
            print(String(format: #"{"what": "encode-single", "threads": 1, "mb": %.3f, "seconds": %.4f, "mb_per_s": %.2f, "tokens": %d}"#, mb, single, mb / single, count))
            var batchCount = 0
            let batch = best { batchCount = tok.encodeBatch(docs).reduce(0) { $0 + $1.count } }
            print(String(format: #"{"what": "encode-batch", "threads": %d, "mb": %.3f, "seconds": %.4f, "mb_per_s": %.2f, "tokens": %d}"#, Parallel.threads, mb, batch, mb / batch, batchCount))
        }
        if trainVocab > 0 {
            var options = BPETrainingOptions()
            options.vocabSize = trainVocab
            var merges = 0
            let t = try best {
                let tok = try BPETrainer.train(try BPETrainer.count(docs, pattern: options.pattern), options: options)
                merges = tok.model.merges.count
            }
            print(String(format: #"{"what": "train", "threads": %d, "vocab": %d, "merges": %d, "mb": %.3f, "seconds": %.3f}"#, Parallel.threads, trainVocab, merges, mb, t))
        }
    }
}

struct BenchDedup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dedup",
        abstract: "Near-dedup throughput: words → shingles → MinHash signatures (all threads) → LSH and verification.",
        discussion: """
        Example: forge bench dedup --shingle-size 3 --bands 64 texts/*.txt
        Prints the duplicates found (one JSON object each) and then the timing; bench/dedup.py runs datatrove beside it.
        """)

    @Argument(help: "Files (each one a document).") var files: [String]
    @Option(help: "Word n-gram size.") var shingleSize = 5
    @Option(help: "MinHash permutations.") var permutations = 128
    @Option(help: "LSH bands.") var bands = 16
    @Option(help: "Estimated Jaccard threshold.") var threshold = 0.8
    @Option(help: "Spelling normalization: none or early-modern.") var spelling = "none"
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        var o = NearDedupOptions()
        o.shingleSize = shingleSize; o.permutations = permutations; o.bands = bands; o.threshold = threshold
        guard let sp = NearDedupOptions.Spelling(rawValue: spelling) else { throw ValidationError("--spelling must be none or early-modern") }
        o.spelling = sp
        try o.validate()
        let docs = try files.map { try String(contentsOfFile: $0, encoding: .utf8) }
        let mb = Double(docs.reduce(0) { $0 + $1.utf8.count }) / 1e6
        let t0 = DispatchTime.now().uptimeNanoseconds
        let hasher = MinHasher(o)
        var sigs = [[UInt32]](repeating: [], count: docs.count)
        sigs.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(docs.count) { r in for i in r { out[i] = hasher.signature(docs[i]) } }
        }
        var near = NearDeduplicator(o)
        var found: [(String, String, Double)] = []
        for (i, s) in sigs.enumerated() {
            if let (first, sim) = near.add(id: files[i], signature: s) { found.append((files[i], first, sim)) }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        for (dup, first, sim) in found {
            print(String(format: #"{"duplicate": "%@", "of": "%@", "similarity": %.3f}"#, dup, first, sim))
        }
        print(String(format: #"{"what": "dedup", "threads": %d, "documents": %d, "mb": %.3f, "seconds": %.4f, "mb_per_s": %.2f, "duplicates": %d}"#,
                     Parallel.threads, docs.count, mb, seconds, mb / seconds, found.count))
    }
}
