// Pruning and distillation: the distillation loss against a Float64 reference and finite differences, the teacher
// cache and batch order, structured pruning as exact removal (the pruned model computes what the original computes
// with those heads / channels zeroed), magnitude masks, and both runs end to end on a tiny model.
import Foundation
import Testing
@testable import ForgeAutograd
@testable import ForgeCompress
@testable import ForgeCore
@testable import ForgeInference
@testable import ForgeModels
@testable import ForgeTokenizer
@testable import ForgeTrain

/// τ²·KL(p ‖ softmax(z/τ)) per row in Float64, averaged over rows whose first id is ≥ 0: with the teacher's
/// log-sum-exps, over the top k and a bucket for the rest; without, over the renormalized top k.
private func referenceKD(_ z: [Double], rows: Int, vocab: Int, ids: [Int32], t: [Double], lse teacherLSE: [Double]?, k: Int, tau: Double) -> Double {
    var total = 0.0, n = 0
    for r in 0..<rows where ids[r * k] >= 0 {
        let zr = (0..<vocab).map { z[r * vocab + $0] / tau }
        let m = zr.max()!
        let lse = m + log(zr.map { exp($0 - m) }.reduce(0, +))
        let tr = (0..<k).map { t[r * k + $0] / tau }
        let tm = tr.max()!
        let tl = teacherLSE?[r] ?? tm + log(tr.map { exp($0 - tm) }.reduce(0, +))
        var kl = 0.0, pTop = 0.0, qTop = 0.0
        for j in 0..<k {
            let p = exp(tr[j] - tl), id = Int(ids[r * k + j])
            kl += p * (log(p) - (zr[id] - lse))
            pTop += p
            qTop += exp(zr[id] - lse)
        }
        if teacherLSE != nil { kl += (1 - pTop) * (log(1 - pTop) - log(1 - qTop)) }
        total += kl
        n += 1
    }
    return tau * tau * total / Double(n)
}

@Suite struct CompressionTests {
    @Test func distillationLossMatchesFloat64AndFiniteDifferences() {
        var rng = RNG(seed: 21)
        let rows = 4, vocab = 13, k = 5, tau: Float = 2
        let z = (0..<(rows * vocab)).map { _ in Float(rng.normal()) * 2 }
        var ids: [Int32] = [], t: [Float] = []
        for r in 0..<rows {
            var pool = Array(0..<Int32(vocab))
            pool.shuffle(using: &rng)
            ids += r == 2 ? [Int32](repeating: -1, count: k) : Array(pool.prefix(k))   // row 2: no teacher
            t += (0..<k).map { _ in Float(rng.normal()) * 3 }
        }
        // The teacher's full log-sum-exp at τ: its top k hold part of its mass, the rest is spread over 20 more logits.
        let lse: [Float] = (0..<rows).map { r in
            let all = (0..<k).map { Double(t[r * k + $0]) } + (0..<20).map { Double($0 % 7) - 6 }
            let m = all.max()! / Double(tau)
            return Float(m + log(all.map { exp($0 / Double(tau) - m) }.reduce(0, +)))
        }
        for teacherLSE in [nil, lse] {
            let x = Variable(Tensor(shape: [rows, vocab], values: z), requiresGrad: true)
            let tape = Tape()
            let loss = tape.topKDistillation(x, ids: ids, teacherLogits: t, teacherLSE: teacherLSE, k: k, temperature: tau)
            let l64 = teacherLSE?.map(Double.init)
            let ref = referenceKD(z.map(Double.init), rows: rows, vocab: vocab, ids: ids, t: t.map(Double.init), lse: l64, k: k, tau: Double(tau))
            #expect(abs(Double(loss.value.data[0]) - ref) < 1e-5 * max(1, ref), "loss \(loss.value.data[0]) vs Float64 \(ref)")
            tape.backward(loss)
            let g = x.grad!
            for i in stride(from: 0, to: rows * vocab, by: 3) {
                var plus = z.map(Double.init), minus = plus
                plus[i] += 1e-4
                minus[i] -= 1e-4
                let fd = (referenceKD(plus, rows: rows, vocab: vocab, ids: ids, t: t.map(Double.init), lse: l64, k: k, tau: Double(tau))
                          - referenceKD(minus, rows: rows, vocab: vocab, ids: ids, t: t.map(Double.init), lse: l64, k: k, tau: Double(tau))) / 2e-4
                #expect(abs(Double(g.data[i]) - fd) < 2e-4, "gradient[\(i)] \(g.data[i]) vs finite difference \(fd) (\(teacherLSE == nil ? "renormalized" : "with the rest"))")
            }
            for v in 0..<vocab { #expect(g.data[2 * vocab + v] == 0, "a row without a teacher gets no gradient") }
        }
    }

    @Test func teacherCacheRoundTripsAndBatchesFollowThePosition() throws {
        let dir = temporaryDirectory("kd-cache")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = RNG(seed: 4)
        let x = (0..<40).map { _ in Float(rng.normal()) }
        var ids = [Int32](repeating: 0, count: 6), vals = [Float](repeating: 0, count: 6)
        TeacherCache.topK(x, 40, 6, &ids, &vals)
        let sorted = x.enumerated().sorted { $0.element > $1.element }.prefix(6)
        #expect(ids == sorted.map { Int32($0.offset) } && vals == sorted.map(\.element))

        let tokens = (0..<(8 * 16 + 1)).map { Int32($0 % 50) }
        try TokenShard.write(tokens, vocabSize: 50, to: dir + "/t.bin")
        let data = try TokenDataset(paths: [dir + "/t.bin"])
        let n = 8 * 16 * 3
        let cache = TeacherCache(k: 3, seq: 16, chunks: 8, vocab: 50, fingerprint: "test ✓", temperature: 2, ids: (0..<n).map { Int32($0 % 50) },
                                 logits: (0..<n).map { Float($0) / 7 }, lse: (0..<128).map { Float($0) / 3 })
        try cache.write(to: dir + "/c.bin")
        let back = try TeacherCache.read(dir + "/c.bin")
        #expect(back.ids == cache.ids && back.logits == cache.logits && back.lse == cache.lse && back.fingerprint == "test ✓"
                && back.chunks == 8 && back.temperature == 2)
        let raw = try Data(contentsOf: URL(fileURLWithPath: dir + "/c.bin"))
        try raw.prefix(raw.count - 5).write(to: URL(fileURLWithPath: dir + "/cut.bin"))
        #expect { try TeacherCache.read(dir + "/cut.bin") } throws: { "\($0)".contains("truncated") }

        var a = try DistillationSource(cache: cache, data: data, batch: 3, seed: 9)
        let first = (0..<5).map { _ in a.next() }
        // Every pass visits each chunk once; a source restored to a saved state continues identically.
        var seen: [Int32] = []
        for b in first.prefix(2) { seen += stride(from: 0, to: b.tokens.inputs.count, by: 16).map { b.tokens.inputs[$0] } }
        #expect(Set(seen.prefix(6)).count == 6)
        var b = try DistillationSource(cache: cache, data: data, batch: 3, seed: 9)
        _ = b.next(); _ = b.next()
        let saved = b.state
        var c = try DistillationSource(cache: cache, data: data, batch: 3, seed: 9)
        c.state = saved
        for i in 2..<5 {
            let x = c.next()
            #expect(x.tokens.inputs == first[i].tokens.inputs && x.ids == first[i].ids && x.logits == first[i].logits)
        }
        // Targets are the inputs shifted by one; the teacher rows are the chunk's.
        let chunk = (0..<8).first { tokens[$0 * 16] == first[0].tokens.inputs[0] }!
        #expect(Array(first[0].tokens.inputs.prefix(16)) == Array(tokens[(chunk * 16)..<(chunk * 16 + 16)]))
        #expect(Array(first[0].tokens.targets.prefix(16)) == Array(tokens[(chunk * 16 + 1)...(chunk * 16 + 16)]))
        #expect(Array(first[0].ids.prefix(48)) == Array(cache.ids[(chunk * 48)..<(chunk * 48 + 48)]))
        #expect(Array(first[0].lse.prefix(16)) == Array(cache.lse[(chunk * 16)..<(chunk * 16 + 16)]))
    }

    /// The pruned model computes exactly what the original computes with the removed heads' / channels' output
    /// columns zeroed; the ones removed are the lowest Taylor scores.
    @Test func structuredPruningIsExactRemoval() throws {
        let config = TransformerConfig(architecture: .llama, vocabSize: 64, contextLength: 16, width: 32, layers: 2, heads: 6,
                                       kvHeads: 2, headDim: 8, ffnWidth: 40, tiedEmbeddings: true)
        let model = try Transformer(config: config, seed: 5)
        perturbAll(model, seed: 6)
        let tokens: [Int32] = (0..<32).map { Int32(($0 * 7) % 64) }
        let batch = TokenBatch(inputs: Array(tokens[0..<16]), targets: Array(tokens[1..<17]), batch: 1, seq: 16)
        let scores = try Pruning.taylorScores(model, batches: [batch])
        #expect(model.parameters.allSatisfy { $0.grad == nil }, "gradients are cleared afterwards")

        func logits(_ m: Transformer) -> [Float] { m.logits(Tape(recording: false), tokens: batch.inputs, batch: 1, seq: 16).value.array }
        // FFN: keep 25 of 40 channels.
        let ffn = try Pruning.pruneFFN(model, keep: 25, scores: scores)
        #expect(ffn.config.ffnWidth == 25)
        let zeroedFFN = try PruningRun.copy(model)
        for l in 0..<2 {
            let s = try Pruning.ffnChannelScores(model, scores, layer: l)
            let removed = Array(0..<40).sorted { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }.suffix(15)
            let down = zeroedFFN.parameter("model.layers.\(l).mlp.down_proj.weight").value
            for j in removed { for r in 0..<32 { down.data[r * 40 + j] = 0 } }
        }
        let a = logits(ffn), b = logits(zeroedFFN)
        #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "FFN-pruned logits equal the zeroed original's")

        // Heads: one query head fewer in each of the 2 groups of 3.
        let heads = try Pruning.pruneHeads(model, removePerGroup: 1, scores: scores)
        #expect(heads.config.heads == 4 && heads.config.kvHeads == 2)
        let zeroedHeads = try PruningRun.copy(model)
        for l in 0..<2 {
            let q = scores["model.layers.\(l).self_attn.q_proj.weight"]!, o = scores["model.layers.\(l).self_attn.o_proj.weight"]!
            var hs = [Double](repeating: 0, count: 6)
            for h in 0..<6 {
                var sum = 0.0
                for r in (h * 8)..<((h + 1) * 8) { for c in 0..<32 { sum += Double(q.data[r * 32 + c]) } }
                for r in 0..<32 { for c in (h * 8)..<((h + 1) * 8) { sum += Double(o.data[r * 48 + c]) } }
                hs[h] = abs(sum)
            }
            for g in 0..<2 {
                let members = [3 * g, 3 * g + 1, 3 * g + 2]
                let weakest = members.sorted { hs[$0] != hs[$1] ? hs[$0] > hs[$1] : $0 < $1 }.last!
                let oW = zeroedHeads.parameter("model.layers.\(l).self_attn.o_proj.weight").value
                for r in 0..<32 { for c in (weakest * 8)..<((weakest + 1) * 8) { oW.data[r * 48 + c] = 0 } }
            }
        }
        let c = logits(heads), d = logits(zeroedHeads)
        #expect(zip(c, d).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "head-pruned logits equal the zeroed original's")
        #expect(throws: ForgeError.self) { try Pruning.pruneHeads(model, removePerGroup: 3, scores: scores) }
    }

    @Test func magnitudePruningZeroesTheSmallestAndMasksHold() throws {
        let model = try Transformer(config: tinyLlama, seed: 7)
        perturbAll(model, seed: 8)
        let before = Dictionary(uniqueKeysWithValues: Pruning.prunableMatrices(model).map { ($0.name, $0.value.array) })
        let masks = try Pruning.magnitude(model, sparsity: 0.4)
        #expect(abs(Pruning.sparsity(model) - 0.4) < 0.002)
        for p in Pruning.prunableMatrices(model) {
            let old = before[p.name]!, keep = masks[p.name]!
            let cut = old.indices.filter { !keep[$0] }.map { abs(old[$0]) }.max()!
            let kept = old.indices.filter { keep[$0] }.map { abs(old[$0]) }.min()!
            #expect(cut <= kept, "\(p.name): a zeroed weight was larger than a kept one")
        }
        #expect(model.parameter("model.embed_tokens.weight").value.array.allSatisfy { $0 != 0 }, "embeddings are not pruned")
        for p in Pruning.prunableMatrices(model) { for i in 0..<p.value.count { p.value.data[i] += 0.5 } }
        Pruning.apply(masks, to: model)
        #expect(abs(Pruning.sparsity(model) - 0.4) < 0.002)
    }

    /// Both runs end to end on tiny models: pruning writes its model and report; distillation builds the teacher cache
    /// once, reuses it, and writes the student and its result; α 0 is the baseline.
    @Test func pruneAndDistilRunsEndToEnd() throws {
        let dir = temporaryDirectory("compress-run")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = (0..<300).map { "line \($0): the king rode \($0 % 17) miles to the sea and back again." }.joined(separator: "\n")
        try text.write(toFile: dir + "/text.txt", atomically: true, encoding: .utf8)
        var config = tinyLlama
        config.contextLength = 64
        config.heads = 4
        config.kvHeads = 2
        let teacher = try Transformer(config: config, seed: 1)
        perturbAll(teacher, seed: 2)
        try ModelDir.save(teacher, tokenizer: ByteTokenizer(), to: dir + "/teacher")

        var prune = PruningRun(modelDir: dir + "/teacher", runDir: dir + "/prune", files: [dir + "/text.txt"])
        prune.seq = 32
        prune.batch = 2
        prune.calibrationBatches = 2
        prune.recoverSteps = 3
        prune.evalTokens = 512
        prune.log = { _ in }
        let points = try prune.run([.magnitude(sparsity: 0.5), .ffn(keep: 32), .heads(removePerGroup: 1)])
        #expect(points.count == 4 && points.allSatisfy { $0.perplexity.isFinite && $0.perplexity > 1 })
        #expect(points[1].sparsity > 0.49 && points[1].recoveredPerplexity != nil)
        for f in ["prune.jsonl", "prune.svg", "prune.md", "model/config.json"] { #expect(FileManager.default.fileExists(atPath: dir + "/prune/" + f)) }
        #expect(try ModelDir.loadConfig(from: dir + "/prune/model").heads == 2)

        var student = config
        student.layers = 1
        var kd = DistillationRun(teacherPath: dir + "/teacher", runDir: dir + "/kd", files: [dir + "/text.txt"])
        kd.options.steps = 4
        kd.options.batch = 2
        kd.options.seq = 32
        kd.options.evalEvery = 2
        kd.options.warmupSteps = 1
        kd.topK = 8
        kd.evalTokens = 512
        var lines: [String] = []
        kd.log = { lines.append($0) }
        let r = try kd.run(student: try Transformer(config: student, seed: 3))
        #expect(r.studentPerplexity.isFinite && r.teacherPerplexity.isFinite && r.steps == 4)
        #expect(FileManager.default.fileExists(atPath: dir + "/kd/teacher-topk.bin") && FileManager.default.fileExists(atPath: dir + "/kd/distil.json"))
        var again = kd
        again.runDir = dir + "/kd"
        again.alpha = 0
        try FileManager.default.removeItem(atPath: dir + "/kd/checkpoint.safetensors")
        lines = []
        again.log = { lines.append($0) }
        _ = try again.run(student: try Transformer(config: student, seed: 3))
        #expect(lines.contains { $0.contains("reused") }, "the second run reuses the teacher cache")
        // A student with another vocabulary is refused.
        var other = student
        other.vocabSize = 128
        #expect { try kd.run(student: try Transformer(config: other, seed: 3)) } throws: { "\($0)".contains("vocabulary") }
    }
}
