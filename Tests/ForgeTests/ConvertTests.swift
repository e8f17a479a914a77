// Models between formats: a GGUF becomes a Hugging Face model dir that transformers reads as Forge does, GGUF weights
// load into the training model, and Hugging Face dirs in half precision load too.
import ForgeAutograd
import ForgeCore
import ForgeInference
import ForgeKernels
import ForgeModels
import ForgeTokenizer
import Foundation
import Testing

@Suite(.serialized) struct ConvertTests {
    /// `forge convert` on SmolLM2: a full model dir (with the chat template); Forge's Float32 logits on it equal the logits
    /// transformers computed on the same dir (bench/parity_convert.py --write-fixture) within 1e-4.
    @Test func convertedSmolLM2MatchesTransformers() throws {
        try convertedModelMatchesTransformers(smolLM2Path, fixture: "smollm2_convert_transformers.json", template: true)
    }

    /// The same for Gemma 3 (Gemma3ForCausalLM in transformers: norms as w, local and global RoPE bases, its
    /// byte-fallback tokenizer.json).
    @Test(.enabled(if: gemma3Path != nil, gemma3Missing)) func convertedGemma3MatchesTransformers() throws {
        try convertedModelMatchesTransformers(gemma3Path!, fixture: "gemma_3_270m_q4_k_m_convert_transformers.json", template: false)
    }

    func convertedModelMatchesTransformers(_ gguf: String, fixture: String, template: Bool) throws {
        let dir = temporaryDirectory("convert")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/model"
        let r = try runForge(["convert", "--model", gguf, "--output", out])
        #expect(r.status == 0, "\(r.stderr)")
        for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + f), "\(f) missing")
        }
        let loaded = try LoadedModel.open(out)
        #expect((loaded.chatTemplate != nil) == template, "the chat template is kept")
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("bench/fixtures/" + fixture)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var worst = 0.0, checked = 0
        for seq in json["sequences"] as! [[String: Any]] {
            let tokens = (seq["tokens"] as! [Int]).map(Int32.init), first = seq["first"] as! Int
            #expect(loaded.encode(seq["prompt"] as! String, special: false) == tokens, "Forge's tokenizer on the dir gives transformers' ids")
            let logits = try InferenceSession(model: loaded.model, cacheType: .f32).forward(tokens, logits: .all)
            let V = loaded.model.config.vocabSize
            for (j, entries) in (seq["entries"] as! [[[Double]]]).enumerated() {
                for e in entries {
                    worst = max(worst, abs(Double(logits[(first + j) * V + Int(e[0])]) - e[1]))
                    checked += 1
                }
            }
        }
        #expect(checked > 1000 && worst < 1e-4, "largest difference from transformers: \(worst) over \(checked) logits")
    }

    /// GGUF weights, dequantized and turned back into Hugging Face's convention, are a trainable model whose Float32
    /// logits agree with the quantized engine's on the same file (top-1 at every position of a text).
    @Test func ggufLoadsIntoTheTrainingModel() throws {
        let file = try GGUFFile(path: smolLM2Path)
        let model = try GGUFModel.transformer(file)
        let tokens = try GGUFVocab.load(file).encode("The quick brown fox jumps over the lazy dog because it")
        let trained = model.logits(Tape(recording: false), tokens: tokens, batch: 1, seq: tokens.count).value.array
        // llama.cpp's product order, as this was calibrated: 8-bit activations put the engine ~0.1–1 logit from Float32,
        // and in the block-sum order one position of this text becomes a near-tie the other way (970 vs 29).
        let quantized = try ModelLoader.load(smolLM2Path)
        quantized.productOrder = .llamaCpp
        let engine = try InferenceSession(model: quantized).forward(tokens, logits: .all)
        let V = model.config.vocabSize
        for t in 0..<tokens.count {
            let a = Array(trained[(t * V)..<((t + 1) * V)]), b = Array(engine[(t * V)..<((t + 1) * V)])
            #expect(Sampler.argmax(a) == Sampler.argmax(b), "position \(t)")
        }
        // And one training step runs on it.
        let tape = Tape()
        let loss = model.loss(tape, tokens: Array(tokens.dropLast()), targets: Array(tokens.dropFirst()), batch: 1, seq: tokens.count - 1)
        tape.backward(loss)
        #expect(loss.value.data[0].isFinite && model.parameter("model.layers.0.self_attn.q_proj.weight").grad != nil)
    }

    /// A Hugging Face dir whose tensors are F16 or BF16 loads as the same model rounded to that type.
    @Test(arguments: ["F16", "BF16"])
    func halfPrecisionModelDirsLoad(dtype: String) throws {
        let dir = temporaryDirectory("half")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try Transformer(config: tinyGemma, seed: 3)
        perturbAll(model, seed: 4)
        try ModelDir.save(model, tokenizer: ByteTokenizer(), to: dir + "/f32")
        _ = try runPython("write_half_safetensors.py", [dir + "/f32", dir + "/half", dtype], hint: "numpy")
        let half = try ModelDir.loadModel(from: dir + "/half")
        for (p, q) in zip(model.parameters, half.parameters) {
            let tolerance: Float = dtype == "F16" ? 1e-3 : 8e-3
            for i in 0..<p.value.count {
                let a = p.value.data[i], b = q.value.data[i]
                #expect(abs(a - b) <= tolerance * max(abs(a), 1e-2), "\(p.name)[\(i)]: \(a) vs \(b)")
                if abs(a - b) > tolerance * max(abs(a), 1e-2) { return }
            }
        }
    }
}
