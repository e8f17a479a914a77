// LoRA: adapters train alone, agree with their merged form in training and at inference, survive PEFT's file
// layout, refuse impossible settings, and on a GGUF base (whose Q/K rows llama.cpp's converter permuted) change
// the logits as the same adapter changes the Float32 model.
import ForgeAlign
import ForgeAutograd
import ForgeCore
import ForgeInference
import ForgeKernels
import ForgeModels
import ForgeTokenizer
import Foundation
import Testing

@Suite struct LoRATests {
    static let config = TransformerConfig(architecture: .llama, vocabSize: 40, contextLength: 16, width: 16, layers: 2, heads: 4,
                                          kvHeads: 2, ffnWidth: 24, tiedEmbeddings: false)

    /// Adapters with non-zero B (a trained state), on every Llama projection.
    static func adapted(seed: UInt64) throws -> (Transformer, LoRAConfig) {
        let model = try Transformer(config: config, seed: 1)
        perturbAll(model, seed: 2)
        let lora = try LoRAConfig(rank: 3, alpha: 6, targets: ["q", "k", "v", "o", "gate", "up", "down"])
        let adapters = try LoRA.attach(lora, to: model, seed: seed)
        var rng = RNG(seed: seed + 1)
        for a in adapters { for i in 0..<a.b.value.count { a.b.value.data[i] = Float(0.3 * rng.normal()) } }
        return (model, lora)
    }

    @Test func onlyTheAdaptersTrainAndTheyStartAsTheBase() throws {
        let model = try Transformer(config: LoRATests.config, seed: 1)
        let tokens: [Int32] = [1, 4, 9, 16, 25, 36, 7, 3]
        let before = model.logits(Tape(recording: false), tokens: tokens, batch: 1, seq: 8).value.array
        let lora = try LoRAConfig(rank: 2, alpha: 4, targets: ["q", "v"])
        let adapters = try LoRA.attach(lora, to: model, seed: 5)
        #expect(adapters.count == 2 * LoRATests.config.layers)
        #expect(model.trainableParameters.count == 2 * adapters.count)
        #expect(model.trainableParameters.allSatisfy { $0.name.hasPrefix("base_model.model.model.layers.") && $0.name.contains(".lora_") })
        #expect(model.logits(Tape(recording: false), tokens: tokens, batch: 1, seq: 8).value.array == before)  // B = 0
    }

    @Test func adaptedEqualsMergedInTrainingAndAtInference() throws {
        let (model, lora) = try LoRATests.adapted(seed: 7)
        let tokens: [Int32] = [1, 4, 9, 16, 25, 36, 7, 3, 11, 2]
        let adapted = model.logits(Tape(recording: false), tokens: tokens, batch: 1, seq: tokens.count).value.array
        // Unmerged at inference: the engine over the base's tensors plus the adapters.
        let weights = LoRA.weights(of: model, config: lora)
        let plain = try Transformer(config: LoRATests.config, weights: model.weights.mapValues { $0.copy() })
        let engine = try InferenceModel(plain)
        try LoRA.apply(weights, to: engine, gguf: false)
        let unmerged = try InferenceSession(model: engine, cacheType: .f32).forward(tokens, logits: .all)
        // Merged.
        try LoRA.merge(weights, into: plain)
        let merged = plain.logits(Tape(recording: false), tokens: tokens, batch: 1, seq: tokens.count).value.array
        #expect(relativeError(adapted.map(Double.init), merged.map(Double.init)) < 1e-5)
        #expect(relativeError(unmerged.map(Double.init), merged.map(Double.init)) < 1e-5)
    }

    @Test func adaptersRoundTripThroughPEFTFiles() throws {
        let (model, lora) = try LoRATests.adapted(seed: 9)
        let dir = temporaryDirectory("peft")
        try LoRA.save(LoRA.weights(of: model, config: lora), family: Llama.self, baseModel: "tiny", to: dir)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_config.json"))) as! [String: Any]
        #expect(json["peft_type"] as? String == "LORA" && json["r"] as? Int == 3 && json["lora_alpha"] as? Double == 6)
        #expect(Set(json["target_modules"] as! [String]) == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        let file = try SafeTensors.read(from: dir + "/adapter_model.safetensors")
        #expect(file["base_model.model.model.layers.1.mlp.down_proj.lora_A.weight"]?.shape == [3, 24])
        #expect(file["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"]?.shape == [16, 3])
        let back = try LoRA.load(dir, for: LoRATests.config)
        #expect(back.config.rank == lora.rank && back.config.alpha == lora.alpha && Set(back.config.targets) == Set(lora.targets))
        for (name, adapter) in model.adapters {
            let l = adapter as! LoRAAdapter
            #expect(back.pairs[name]!.a.array == l.a.value.array && back.pairs[name]!.b.array == l.b.value.array)
        }
    }

    @Test func impossibleSettingsAreClearErrors() throws {
        let model = try Transformer(config: LoRATests.config, seed: 1)
        let big = #expect(throws: ForgeError.self) { try LoRA.attach(try LoRAConfig(rank: 17, alpha: 1, targets: ["q"]), to: model, seed: 1) }
        #expect(big?.description.contains("rank 17 is larger than the matrix model.layers.0.self_attn.q_proj.weight (16×16)") == true)
        let unknown = #expect(throws: ForgeError.self) { try LoRA.attach(try LoRAConfig(rank: 2, alpha: 1, targets: ["c_attn"]), to: model, seed: 1) }
        #expect(unknown?.description.contains("'c_attn' is not a projection") == true)
        #expect(throws: ForgeError.self) { try LoRAConfig(rank: 0, alpha: 1, targets: ["q"]) }
        #expect(throws: ForgeError.self) { try LoRA.load(temporaryDirectory("nolora"), for: LoRATests.config) }
    }

    /// On SmolLM2's GGUF the engine's Q/K rows are in llama.cpp's order: the adapter's B rows must follow. The change an
    /// adapter on q/k makes to the logits must be the change it makes to the Float32 model (up to Q4_1's noise), which
    /// it is not with B left in Hugging Face's order.
    @Test func onAGGUFBaseTheAdapterFollowsTheQKPermutation() throws {
        let file = try GGUFFile(path: smolLM2Path)
        let f32 = try GGUFModel.transformer(file)
        let lora = try LoRAConfig(rank: 4, alpha: 8, targets: ["q", "k"])
        let adapters = try LoRA.attach(lora, to: f32, seed: 3)
        var rng = RNG(seed: 4)
        for a in adapters { for i in 0..<a.b.value.count { a.b.value.data[i] = Float(0.2 * rng.normal()) } }
        let tokens: [Int32] = [1, 504, 3458, 314, 260, 3117, 28, 10838, 253]
        let weights = LoRA.weights(of: f32, config: lora)
        let withAdapter = f32.logits(Tape(recording: false), tokens: tokens, batch: 1, seq: tokens.count).value.array.suffix(49152)
        f32.adapters = [:]
        let without = f32.logits(Tape(recording: false), tokens: tokens, batch: 1, seq: tokens.count).value.array.suffix(49152)
        let expected = zip(withAdapter, without).map { Double($0 - $1) }
        func change(gguf: Bool) throws -> [Double] {
            let base = try GGUFModel.inferenceModel(file)
            let plain = try InferenceSession(model: base, cacheType: .f32).forward(tokens)
            let adapted = try GGUFModel.inferenceModel(file)
            try LoRA.apply(weights, to: adapted, gguf: gguf)
            return zip(try InferenceSession(model: adapted, cacheType: .f32).forward(tokens), plain).map { Double($0 - $1) }
        }
        func correlation(_ a: [Double], _ b: [Double]) -> Double {
            let ma = a.reduce(0, +) / Double(a.count), mb = b.reduce(0, +) / Double(b.count)
            var sab = 0.0, saa = 0.0, sbb = 0.0
            for (x, y) in zip(a, b) { sab += (x - ma) * (y - mb); saa += (x - ma) * (x - ma); sbb += (y - mb) * (y - mb) }
            return sab / (saa * sbb).squareRoot()
        }
        let right = correlation(try change(gguf: true), expected), wrong = correlation(try change(gguf: false), expected)
        let engineF32 = try InferenceModel(f32)
        let p0 = try InferenceSession(model: engineF32, cacheType: .f32).forward(tokens)
        try LoRA.apply(weights, to: engineF32, gguf: false)
        let p1 = try InferenceSession(model: engineF32, cacheType: .f32).forward(tokens)
        // The same adapter on a Float32 engine (no permutation, no quantization) makes exactly the training model's change.
        #expect(correlation(zip(p1, p0).map { Double($0 - $1) }, expected) > 0.9999)
        #expect(expected.map(abs).max()! > 0.5, "the adapter should move the logits")
        #expect(right > 0.9, "permuted B: correlation \(right)")  // measured 0.969 (Q4_1's noise is the rest)
        #expect(wrong < right - 0.4, "unpermuted B: correlation \(wrong), permuted \(right)")
    }
}

@Suite struct StoredBaseTests {
    /// A matrix in F16 (a stored type) with llama.cpp's Q/K row order: the stored product, in Hugging Face's order, and
    /// its input gradient against the Float32 linear op on the same values.
    @Test func aStoredMatrixMultipliesAsItsFloat32Values() throws {
        var rng = RNG(seed: 5)
        let (rows, cols, heads, n) = (128, 96, 2, 7)
        let hf = randomTensor([rows, cols], &rng)
        let stored = GGUFTransform.ropePermutation(heads: heads).toGGUF(hf)
        let halves = stored.array.map { Float16($0) }
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: rows * cols * 2, alignment: 64)
        defer { bytes.deallocate() }
        halves.withUnsafeBytes { bytes.copyMemory(from: $0.baseAddress!, byteCount: rows * cols * 2) }
        let matrix = StoredMatrix(matrix: WeightMatrix(type: .f16, rows: rows, cols: cols, base: UnsafeRawPointer(bytes)),
                                  transform: .ropePermutation(heads: heads), owner: NSObject())
        let rounded = Tensor(shape: [rows, cols], values: hf.array.map { Float(Float16($0)) })
        let x = randomTensor([n, cols], &rng), probe = randomTensor([n, rows], &rng)
        func run(_ f: (Tape, Variable) -> Variable) -> ([Float], [Float]) {
            let tape = Tape(), v = Variable(x.copy(), requiresGrad: true)
            let y = f(tape, v)
            tape.backward(tape.weightedSum(y, probe))
            return (y.value.array, v.grad!.array)
        }
        let (y1, g1) = run { t, v in t.storedLinear(v, matrix) }
        let (y2, g2) = run { t, v in t.linear(v, Variable(rounded)) }
        #expect(relativeError(y1.map(Double.init), y2.map(Double.init)) < 1e-6)
        #expect(relativeError(g1.map(Double.init), g2.map(Double.init)) < 1e-6)
    }

    /// SmolLM2's GGUF kept in Q4_1/Q8_0 gives the loss and adapter gradients of its Float32 dequantization.
    @Test func aStoredGGUFBaseTrainsAdaptersAsItsFloat32Copy() throws {
        let file = try GGUFFile(path: smolLM2Path)
        let lora = try LoRAConfig(rank: 2, alpha: 4, targets: ["q", "k", "down"])
        let tokens: [Int32] = [1, 504, 3458, 314, 260, 3117, 28, 10838, 253, 2, 1, 9690, 198]
        var targets = Array(tokens.dropFirst()) + [-1]
        targets[3] = -1
        func lossAndGrads(_ model: Transformer) throws -> (Float, [[Float]]) {
            let adapters = try LoRA.attach(lora, to: model, seed: 3)
            var rng = RNG(seed: 9)
            for a in adapters { for i in 0..<a.b.value.count { a.b.value.data[i] = Float(0.02 * rng.normal()) } }
            let tape = Tape()
            let loss = Losses.crossEntropy(tape, model.logits(tape, tokens: tokens, batch: 1, seq: tokens.count), targets: targets)
            tape.backward(loss)
            return (loss.value.data[0], model.trainableParameters.map { $0.grad!.array })
        }
        let (l1, g1) = try lossAndGrads(try GGUFModel.storedTransformer(file))
        let (l2, g2) = try lossAndGrads(try GGUFModel.transformer(file))
        #expect(abs(l1 - l2) < 1e-4, "\(l1) vs \(l2)")
        #expect(relativeError(g1.flatMap { $0 }.map(Double.init), g2.flatMap { $0 }.map(Double.init)) < 1e-4)
    }
}
