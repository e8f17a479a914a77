// Distillation: a student trained on a teacher's next-token distributions as well as on the text.
//
// The teacher (any model Forge runs: a GGUF, quantized or not, or a model dir) reads the training text once, in
// fixed chunks of `seq` tokens, and its k largest logits at every position, with the log-sum-exp of all its logits at
// the temperature τ (so the mass outside the top k is known), are cached on disk (TeacherCache:
// RUN/teacher-topk.bin), so a run, a resumed run or a second student never run the teacher again. The student
// then trains on those chunks with loss α·τ²·KL(teacher top-k ‖ student at τ) + (1 − α)·cross-entropy; α = 0 is
// the same run without the teacher (same chunks, same order), the baseline a distillation is measured against.
import ForgeAutograd
import ForgeCore
import ForgeInference
import ForgeKernels
import ForgeModels
import ForgeTrain
import Foundation

/// The teacher's top-k logits for every position of fixed chunks of a token dataset.
public struct TeacherCache: Sendable {
    public static let magic = Array("FORGEKD1".utf8)
    public let k: Int
    public let seq: Int
    public let chunks: Int
    public let vocab: Int
    /// What the cache was made from (teacher and data), checked when it is reused.
    public let fingerprint: String
    /// The temperature the log-sum-exps are taken at.
    public let temperature: Float
    /// [chunks · seq · k] teacher ids and logits, row r of chunk c at (c·seq + r)·k.
    public let ids: [Int32]
    public let logits: [Float]
    /// [chunks · seq] log Σ_v exp(logit_v / τ) over the teacher's whole vocabulary.
    public let lse: [Float]

    /// The chunks of `data` the cache covers: chunk c is tokens c·seq ..< c·seq + seq + 1 (inputs and shifted targets).
    public static func chunkCount(_ data: TokenDataset, seq: Int, limit: Int?) -> Int {
        min(limit ?? .max, max(0, (data.count - 1) / seq))
    }

    /// Runs `teacher` over the chunks of `data` and keeps its top `k` logits per position.
    public static func build(teacher: InferenceModel, data: TokenDataset, seq: Int, k: Int, limit: Int?, temperature: Float,
                             fingerprint: String, log: (String) -> Void) throws -> TeacherCache {
        let chunks = chunkCount(data, seq: seq, limit: limit), V = teacher.config.vocabSize
        guard chunks >= 1 else { throw ForgeError("the training text has \(data.count) tokens: not one chunk of \(seq + 1)") }
        guard k >= 1, k <= V else { throw ForgeError("--top-k \(k) is outside 1...\(V)") }
        let session = try InferenceSession(model: teacher, contextLength: seq)
        var ids = [Int32](repeating: 0, count: chunks * seq * k), vals = [Float](repeating: 0, count: chunks * seq * k)
        var lses = [Float](repeating: 0, count: chunks * seq)
        var window = [Int32](repeating: 0, count: seq)
        let start = Date()
        for c in 0..<chunks {
            window.withUnsafeMutableBufferPointer { data.read(c * seq, seq, into: $0.baseAddress!) }
            session.reset()
            let logits = try session.forward(window, logits: .from(0))
            ids.withUnsafeMutableBufferPointer { idp in
                vals.withUnsafeMutableBufferPointer { vp in
                    lses.withUnsafeMutableBufferPointer { sp in
                        let ip = UncheckedSendable(idp.baseAddress!), lp = UncheckedSendable(vp.baseAddress!), ep = UncheckedSendable(sp.baseAddress!)
                        logits.withUnsafeBufferPointer { l in
                            let src = UncheckedSendable(l.baseAddress!)
                            Parallel.forEach(seq) { rows in
                                var scaled = [Float](repeating: 0, count: V)
                                for r in rows {
                                    let row = src.value + r * V
                                    topK(row, V, k, ip.value + (c * seq + r) * k, lp.value + (c * seq + r) * k)
                                    for v in 0..<V { scaled[v] = row[v] / temperature }
                                    ep.value[c * seq + r] = scaled.withUnsafeBufferPointer { Softmax.logSumExp($0.baseAddress!, V) }
                                }
                            }
                        }
                    }
                }
            }
            if (c + 1) % max(1, chunks / 20) == 0 || c + 1 == chunks {
                let t = Date().timeIntervalSince(start), done = Double(c + 1) / Double(chunks)
                log(String(format: "teacher: chunk %d/%d, %.0f tokens/s, ETA %.0f s", c + 1, chunks, Double((c + 1) * seq) / t, t / done - t))
            }
        }
        return TeacherCache(k: k, seq: seq, chunks: chunks, vocab: V, fingerprint: fingerprint, temperature: temperature,
                            ids: ids, logits: vals, lse: lses)
    }

    /// The k largest of `n` logits (largest first; ties by lower id) into `ids` / `out`.
    static func topK(_ x: UnsafePointer<Float>, _ n: Int, _ k: Int, _ ids: UnsafeMutablePointer<Int32>, _ out: UnsafeMutablePointer<Float>) {
        var heap: [(Float, Int32)] = []  // kept sorted descending; k is small
        heap.reserveCapacity(k + 1)
        for v in 0..<n {
            let val = x[v]
            if heap.count == k, val <= heap[k - 1].0 { continue }
            var i = heap.count
            while i > 0 && heap[i - 1].0 < val { i -= 1 }
            heap.insert((val, Int32(v)), at: i)
            if heap.count > k { heap.removeLast() }
        }
        for (j, e) in heap.enumerated() { ids[j] = e.1; out[j] = e.0 }
    }

    /// Writes the cache atomically: magic, u32 version 2, u32 k, u32 seq, u32 vocab, u64 chunks, f32 temperature, u32
    /// fingerprint length, the fingerprint (UTF-8), then ids (i32), logits (f32) and log-sum-exps (f32), little-endian.
    public func write(to path: String) throws {
        try AtomicFile.write(path) { w in
            var head = TeacherCache.magic
            func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { head += $0 } }
            put(UInt32(2)); put(UInt32(k)); put(UInt32(seq)); put(UInt32(vocab)); put(UInt64(chunks)); put(temperature.bitPattern)
            let f = Array(fingerprint.utf8)
            put(UInt32(f.count))
            head += f
            try head.withUnsafeBytes { try w.write($0) }
            try ids.withUnsafeBytes { try w.write($0) }
            try logits.withUnsafeBytes { try w.write($0) }
            try lse.withUnsafeBytes { try w.write($0) }
        }
    }

    /// Reads a cache; errors name the file and what does not fit.
    public static func read(_ path: String) throws -> TeacherCache {
        guard let data = FileManager.default.contents(atPath: path) else { throw ForgeError.file(path, "cannot be read") }
        func bad(_ why: String) -> ForgeError { ForgeError.file(path, "not a usable teacher cache: \(why)") }
        guard data.count >= 40, Array(data.prefix(8)) == magic else { throw bad("bad magic or too short") }
        func u32(_ o: Int) -> Int { Int(UInt32(littleEndian: data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) })) }
        guard u32(8) == 2 else { throw bad("version \(u32(8)) (2 is read)") }
        let k = u32(12), seq = u32(16), vocab = u32(20)
        let chunks = Int(UInt64(littleEndian: data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 24, as: UInt64.self) }))
        let temperature = Float(bitPattern: UInt32(u32(32)))
        let fl = u32(36)
        guard k >= 1, seq >= 1, chunks >= 1, chunks < 1 << 32, temperature > 0, fl < 1 << 16, 40 + fl <= data.count else { throw bad("corrupt header") }
        let fingerprint = String(decoding: data[(data.startIndex + 40)..<(data.startIndex + 40 + fl)], as: UTF8.self)
        let n = chunks * seq * k, rows = chunks * seq, off = 40 + fl
        guard data.count == off + 8 * n + 4 * rows else { throw bad("\(data.count) bytes, expected \(off + 8 * n + 4 * rows) (truncated?)") }
        func f32(_ o: Int) -> Float { Float(bitPattern: UInt32(littleEndian: data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) })) }
        let ids = data.withUnsafeBytes { raw in (0..<n).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: off + 4 * $0, as: Int32.self)) } }
        let logits = (0..<n).map { f32(off + 4 * n + 4 * $0) }
        let lse = (0..<rows).map { f32(off + 8 * n + 4 * $0) }
        guard ids.allSatisfy({ $0 >= 0 && Int($0) < vocab }) else { throw bad("a token id outside the vocabulary of \(vocab)") }
        return TeacherCache(k: k, seq: seq, chunks: chunks, vocab: vocab, fingerprint: fingerprint, temperature: temperature,
                            ids: ids, logits: logits, lse: lse)
    }
}

/// A batch of chunks with the teacher's top-k for each position (none for validation batches).
public struct DistillationBatch {
    public let tokens: TokenBatch
    public let ids: [Int32]
    public let logits: [Float]
    /// The teacher's log-sum-exp at τ per position.
    public let lse: [Float]
    public var hasTeacher: Bool { !ids.isEmpty }
}

/// Batches of whole cached chunks, in a shuffled order per pass over them.
public struct DistillationSource: BatchSource {
    public let cache: TeacherCache
    public let data: TokenDataset
    public let batch: Int
    public var state: SamplerState

    public init(cache: TeacherCache, data: TokenDataset, batch: Int, seed: UInt64) throws {
        guard batch >= 1, batch <= cache.chunks else { throw ForgeError("--batch \(batch) needs at least that many chunks; the cache has \(cache.chunks)") }
        (self.cache, self.data, self.batch) = (cache, data, batch)
        state = SamplerState(rng: RNG(seed: seed))
    }

    var orderPass = -1
    var orderCache: [Int] = []

    /// The chunk order of pass `p`: a permutation drawn from the source's seed and the pass number (the state's
    /// random stream is never advanced, so the position alone decides the batches; a resumed run sees the same ones).
    func order(pass: Int) -> [Int] {
        var base = state.rng
        var rng = RNG(seed: base.next() &+ UInt64(pass) &* 0x9E37_79B9_7F4A_7C15)
        var o = Array(0..<cache.chunks)
        for i in stride(from: o.count - 1, to: 0, by: -1) { o.swapAt(i, rng.below(i + 1)) }
        return o
    }

    public mutating func next() -> DistillationBatch {
        let seq = cache.seq, k = cache.k
        var inputs = [Int32](), targets = [Int32](), ids = [Int32](), logits = [Float](), lse = [Float]()
        var window = [Int32](repeating: 0, count: seq + 1)
        for _ in 0..<batch {
            let pass = state.position / cache.chunks, slot = state.position % cache.chunks
            if pass != orderPass { orderCache = order(pass: pass); orderPass = pass }
            let c = orderCache[slot]
            window.withUnsafeMutableBufferPointer { data.read(c * seq, seq + 1, into: $0.baseAddress!) }
            inputs += window[0..<seq]
            targets += window[1...seq]
            ids += cache.ids[(c * seq * k)..<((c + 1) * seq * k)]
            logits += cache.logits[(c * seq * k)..<((c + 1) * seq * k)]
            lse += cache.lse[(c * seq)..<((c + 1) * seq)]
            state.position += 1
        }
        return DistillationBatch(tokens: TokenBatch(inputs: inputs, targets: targets, batch: batch, seq: seq), ids: ids, logits: logits, lse: lse)
    }
}

extension Objective where Batch == DistillationBatch {
    /// α·τ²·KL(teacher ‖ student) over the teacher's top k and the rest of its mass, + (1 − α)·cross-entropy; batches
    /// without a teacher (validation) give cross-entropy. The cache's temperature must be `temperature`.
    public static func distillation(alpha: Float, temperature: Float, k: Int) -> Objective {
        Objective(name: alpha == 0 ? "next-token cross-entropy (no teacher)" : "distillation (α \(alpha), τ \(temperature), top-\(k))",
                  loss: { tape, model, b in
                      let t = b.tokens
                      let logits = model.logits(tape, tokens: t.inputs, batch: t.batch, seq: t.seq)
                      let ce = Losses.crossEntropy(tape, logits, targets: t.targets)
                      guard b.hasTeacher, alpha > 0 else { return ce }
                      let kd = tape.topKDistillation(logits, ids: b.ids, teacherLogits: b.logits, teacherLSE: b.lse, k: k, temperature: temperature)
                      return alpha == 1 ? kd : tape.add(tape.scale(kd, alpha), tape.scale(ce, 1 - alpha))
                  },
                  tokens: { $0.tokens.batch * $0.tokens.seq })
    }
}
