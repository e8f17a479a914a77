// ModelLoaders: InferenceModel from a GGUF file (mapped, weights used in place) or a Forge model dir.
import ForgeCore
import ForgeKernels
import ForgeModels
import Foundation

public enum ModelLoader {
    /// Opens a `.gguf` file or a model directory (config.json + model.safetensors).
    public static func load(_ path: String) throws -> InferenceModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ForgeError.file(path, "no such file or directory") }
        if isDir.boolValue { return try fromModelDir(path) }
        return try fromGGUF(GGUFFile(path: path))
    }

    // MARK: - GGUF

    /// A Llama-architecture GGUF (Llama, SmolLM2, ... ). The file stays mapped; Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 matrices are
    /// copied once into the packed layout of the decode kernels (same bytes, regrouped), others used in place.
    public static func fromGGUF(_ file: GGUFFile) throws -> InferenceModel {
        let path = file.path
        let arch = file["general.architecture"]?.string ?? "(none)"
        guard arch == "llama" else {
            throw ForgeError.file(path, "model architecture '\(arch)' is not supported (Forge runs 'llama' GGUF files)")
        }
        func int(_ key: String, _ fallback: Int? = nil) throws -> Int {
            if let v = file["\(arch).\(key)"]?.int { return v }
            if let f = fallback { return f }
            throw ForgeError.file(path, "missing metadata key '\(arch).\(key)'")
        }
        let width = try int("embedding_length"), layers = try int("block_count"), heads = try int("attention.head_count")
        let kvHeads = try int("attention.head_count_kv", heads), ffn = try int("feed_forward_length")
        guard heads > 0, kvHeads > 0, heads % kvHeads == 0, width % heads == 0, layers > 0 else {
            throw ForgeError.file(path, "inconsistent shape: width \(width), \(heads) heads, \(kvHeads) key/value heads")
        }
        let headDim = width / heads
        if let rotary = file["\(arch).rope.dimension_count"]?.int, rotary != headDim {
            throw ForgeError.file(path, "partial rotary embedding (\(rotary) of \(headDim) channels) is not supported")
        }
        if file.tensor("rope_freqs.weight") != nil || (file["\(arch).rope.scaling.type"]?.string).map({ $0 != "none" }) == true {
            throw ForgeError.file(path, "RoPE scaling (rope_freqs / rope.scaling) is not supported yet")
        }
        guard let embd = file.tensor("token_embd.weight"), embd.dims.count == 2, embd.dims[0] == width else {
            throw ForgeError.file(path, "missing or misshapen tensor 'token_embd.weight'")
        }
        let vocab = embd.dims[1]
        let config = InferenceConfig(
            family: .llama, vocabSize: vocab, contextLength: try int("context_length", 2048), width: width, layers: layers,
            heads: heads, kvHeads: kvHeads, headDim: headDim, ffnWidth: ffn,
            normEps: Float(file["\(arch).attention.layer_norm_rms_epsilon"]?.double ?? 1e-5),
            ropeTheta: Float(file["\(arch).rope.freq_base"]?.double ?? 10000), ropeStyle: .adjacent)
        let base = file.data.withUnsafeBytes { $0.baseAddress! }  // stays valid: the mapping lives as long as `file`

        func matrix(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
            guard let t = file.tensor(name) else { throw ForgeError.file(path, "missing tensor '\(name)'") }
            guard t.dims == [cols, rows] else {
                throw ForgeError.file(path, "tensor '\(name)' has shape \(t.dims), expected [\(cols), \(rows)]")
            }
            guard QuantBlocks.isSupported(t.type) else {
                throw ForgeError.file(path, "tensor '\(name)' has type \(t.type), which Forge cannot run yet "
                                      + "(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K)")
            }
            return WeightMatrix(type: t.type, rows: rows, cols: cols, base: base + t.fileOffset)
        }
        func packed(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
            try matrix(name, rows: rows, cols: cols).packedForDecode()
        }
        func vector(_ name: String) throws -> [Float] {
            guard let t = file.tensor(name) else { throw ForgeError.file(path, "missing tensor '\(name)'") }
            guard t.elementCount == width, QuantBlocks.isSupported(t.type) else {
                throw ForgeError.file(path, "tensor '\(name)' should hold \(width) values, has \(t.dims) of \(t.type)")
            }
            var out = [Float](repeating: 0, count: width)
            out.withUnsafeMutableBufferPointer { QuantBlocks.dequantize(t.type, base + t.fileOffset, $0.baseAddress!, count: width) }
            return out
        }
        var blocks: [InferenceLayer] = []
        for l in 0..<layers {
            let p = "blk.\(l)."
            blocks.append(InferenceLayer(
                attentionNorm: NormWeights(weight: try vector(p + "attn_norm.weight"), bias: nil),
                q: try packed(p + "attn_q.weight", rows: width, cols: width),
                k: try packed(p + "attn_k.weight", rows: kvHeads * headDim, cols: width),
                v: try packed(p + "attn_v.weight", rows: kvHeads * headDim, cols: width),
                o: try packed(p + "attn_output.weight", rows: width, cols: width),
                qBias: nil, kBias: nil, vBias: nil, oBias: nil,
                ffnNorm: NormWeights(weight: try vector(p + "ffn_norm.weight"), bias: nil),
                gate: try packed(p + "ffn_gate.weight", rows: ffn, cols: width),
                up: try packed(p + "ffn_up.weight", rows: ffn, cols: width),
                down: try packed(p + "ffn_down.weight", rows: width, cols: ffn),
                upBias: nil, downBias: nil))
        }
        let embedding = try matrix("token_embd.weight", rows: vocab, cols: width)
        // The embedding is read a row at a time from the file; the output matrix (often the same tensor) is packed.
        let output = file.tensor("output.weight") != nil
            ? try packed("output.weight", rows: vocab, cols: width) : embedding.packedForDecode()
        let types = Set(blocks.flatMap { [$0.q.type, $0.up.type, $0.down.type] }).map { "\($0)".uppercased() }.sorted()
        return InferenceModel(config: config, tokenEmbedding: embedding, positionEmbedding: nil, layers: blocks,
                              outputNorm: NormWeights(weight: try vector("output_norm.weight"), bias: nil), output: output,
                              summary: "\((path as NSString).lastPathComponent) (llama, \(layers) layers, \(types.joined(separator: "/")))",
                              owner: file)
    }

    // MARK: - Forge model directories

    /// A model dir written by `forge pretrain` (or any GPT-2/Llama dir in Hugging Face layout), in Float32.
    public static func fromModelDir(_ dir: String) throws -> InferenceModel {
        let model = try ModelDir.loadModel(from: dir)
        let c = model.config
        let w = model.weights
        func matrix(_ name: String, rowOffset: Int = 0, rows: Int? = nil) -> WeightMatrix {
            let t = w[name]!
            let r = rows ?? t.shape[0]
            return WeightMatrix(type: .f32, rows: r, cols: t.shape[1], base: UnsafeRawPointer(t.data + rowOffset * t.shape[1]))
        }
        func array(_ name: String, from: Int = 0, count: Int? = nil) -> [Float] {
            let t = w[name]!
            return Array(UnsafeBufferPointer(start: t.data + from, count: count ?? (t.count - from)))
        }
        let C = c.width
        var blocks: [InferenceLayer] = []
        let embeddingName: String
        switch c.architecture {
        case .gpt2:
            embeddingName = "wte.weight"
            for l in 0..<c.layers {
                let p = "h.\(l)."
                blocks.append(InferenceLayer(
                    attentionNorm: NormWeights(weight: array(p + "ln_1.weight"), bias: array(p + "ln_1.bias")),
                    q: matrix(p + "attn.c_attn.weight", rowOffset: 0, rows: C),
                    k: matrix(p + "attn.c_attn.weight", rowOffset: C, rows: C),
                    v: matrix(p + "attn.c_attn.weight", rowOffset: 2 * C, rows: C),
                    o: matrix(p + "attn.c_proj.weight"),
                    qBias: array(p + "attn.c_attn.bias", from: 0, count: C),
                    kBias: array(p + "attn.c_attn.bias", from: C, count: C),
                    vBias: array(p + "attn.c_attn.bias", from: 2 * C, count: C),
                    oBias: array(p + "attn.c_proj.bias"),
                    ffnNorm: NormWeights(weight: array(p + "ln_2.weight"), bias: array(p + "ln_2.bias")),
                    gate: nil, up: matrix(p + "mlp.c_fc.weight"), down: matrix(p + "mlp.c_proj.weight"),
                    upBias: array(p + "mlp.c_fc.bias"), downBias: array(p + "mlp.c_proj.bias")))
            }
        case .llama:
            embeddingName = "model.embed_tokens.weight"
            for l in 0..<c.layers {
                let p = "model.layers.\(l)."
                blocks.append(InferenceLayer(
                    attentionNorm: NormWeights(weight: array(p + "input_layernorm.weight"), bias: nil),
                    q: matrix(p + "self_attn.q_proj.weight"), k: matrix(p + "self_attn.k_proj.weight"),
                    v: matrix(p + "self_attn.v_proj.weight"), o: matrix(p + "self_attn.o_proj.weight"),
                    qBias: nil, kBias: nil, vBias: nil, oBias: nil,
                    ffnNorm: NormWeights(weight: array(p + "post_attention_layernorm.weight"), bias: nil),
                    gate: matrix(p + "mlp.gate_proj.weight"), up: matrix(p + "mlp.up_proj.weight"),
                    down: matrix(p + "mlp.down_proj.weight"), upBias: nil, downBias: nil))
            }
        }
        let embedding = matrix(embeddingName)
        let outNorm = c.architecture == .gpt2
            ? NormWeights(weight: array("ln_f.weight"), bias: array("ln_f.bias")) : NormWeights(weight: array("model.norm.weight"), bias: nil)
        let config = InferenceConfig(
            family: c.architecture == .gpt2 ? .gpt2 : .llama, vocabSize: c.vocabSize, contextLength: c.contextLength,
            width: C, layers: c.layers, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, ffnWidth: c.ffnWidth,
            normEps: c.normEps, ropeTheta: Float(c.ropeTheta), ropeStyle: .halves)
        return InferenceModel(
            config: config, tokenEmbedding: embedding,
            positionEmbedding: c.architecture == .gpt2 ? array("wpe.weight") : nil, layers: blocks, outputNorm: outNorm,
            output: c.tiedEmbeddings ? embedding : matrix("lm_head.weight"),
            summary: "\(dir) (\(c.architecture.rawValue), \(c.layers) layers, F32)", owner: model)
    }
}
