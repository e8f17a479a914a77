// GGUFModel: a GGUF file as a model of one of Forge's families: its config from the metadata, its inference
// form (weights used in place, in their stored types) and its training form (every tensor dequantized to
// Float32 and turned back into Hugging Face's convention: Llama's Q/K rows unpermuted, Gemma's norms − 1).
import ForgeCore
import ForgeKernels

public enum GGUFModel {
    /// The family and config a GGUF file describes; errors name the file and the key.
    public static func config(_ file: GGUFFile) throws -> TransformerConfig {
        let path = file.path
        let name = file["general.architecture"]?.string ?? "(none)"
        do {
            let family = try Architectures.forGGUF(name)
            guard let embd = file.tensor("token_embd.weight"), embd.dims.count == 2 else {
                throw ForgeError("missing or misshapen tensor 'token_embd.weight'")
            }
            if file.tensor("rope_freqs.weight") != nil { throw ForgeError("RoPE scaling (rope_freqs.weight) is not supported yet") }
            var c = try family.config(gguf: ConfigKeys(gguf: file.metadata, architecture: name), vocabSize: embd.dims[1])
            guard embd.dims[0] == c.width else {
                throw ForgeError("token_embd.weight has width \(embd.dims[0]), \(name).embedding_length is \(c.width)")
            }
            c.tiedEmbeddings = file.tensor("output.weight") == nil
            c.bosTokenId = file["tokenizer.ggml.bos_token_id"]?.int.flatMap { $0 < c.vocabSize ? $0 : nil }
            c.eosTokenId = file["tokenizer.ggml.eos_token_id"]?.int.flatMap { $0 < c.vocabSize ? $0 : nil }
            try c.validate()
            return c
        } catch let e as ForgeError {
            throw ForgeError.file(path, e.description)
        }
    }

    /// The inference model of a GGUF file: mapped, matrices in their stored types (packed for the decode kernels).
    public static func inferenceModel(_ file: GGUFFile) throws -> InferenceModel {
        let c = try config(file)
        return try InferenceModel(config: c, source: GGUFWeights(file: file, specs: try c.family.parameters(c)))
    }

    /// The training model of a GGUF file with its matrices left in their stored types (mapped, frozen; QLoRA) and the
    /// vectors in Float32. Families with projection biases (GPT-2) are refused.
    public static func storedTransformer(_ file: GGUFFile) throws -> Transformer {
        let c = try config(file)
        guard c.architecture != .gpt2 else { throw ForgeError.file(file.path, "a quantized base needs a family without projection biases (llama, gemma3)") }
        let specs = try c.family.parameters(c)
        let source = GGUFWeights(file: file, specs: specs)
        var weights: [String: Tensor] = [:], stored: [String: StoredMatrix] = [:]
        for spec in specs {
            if spec.shape.count == 2 {
                stored[spec.name] = StoredMatrix(matrix: try source.matrix(spec.name, packed: false), transform: spec.ggufTransform, owner: file)
            } else {
                let v = try source.vector(spec.name)
                weights[spec.name] = spec.ggufTransform.fromGGUF(Tensor(shape: spec.shape, values: v))
            }
        }
        return try Transformer(config: c, weights: weights, stored: stored)
    }

    /// The training model of a GGUF file: every parameter dequantized to Float32, in Hugging Face's convention.
    public static func transformer(_ file: GGUFFile) throws -> Transformer {
        let c = try config(file)
        do { try c.checkFitsInMemory() } catch let e as ForgeError { throw ForgeError.file(file.path, e.description) }
        var weights: [String: Tensor] = [:]
        for spec in try c.family.parameters(c) {
            guard let gguf = spec.gguf, let t = file.tensor(gguf) else {
                throw ForgeError.file(file.path, "missing tensor '\(spec.gguf ?? spec.name)'")
            }
            guard t.elementCount == spec.elementCount, t.dims.first == spec.shape.last else {
                throw ForgeError.file(file.path, "tensor '\(gguf)' has shape \(t.dims), expected \(Array(spec.shape.reversed()))")
            }
            guard QuantBlocks.isSupported(t.type) else { throw ForgeError.file(file.path, "tensor '\(gguf)' has unsupported type \(t.type)") }
            let stored = Tensor(shape: spec.shape, zeroed: false)
            file.withBytes(of: t) { QuantBlocks.dequantize(t.type, $0.baseAddress!, stored.data, count: t.elementCount) }
            weights[spec.name] = spec.ggufTransform.fromGGUF(stored)
        }
        return try Transformer(config: c, weights: weights)
    }
}

extension GGUFTransform {
    /// The Hugging Face form of a tensor stored in a GGUF file.
    public func fromGGUF(_ t: Tensor) -> Tensor {
        switch self {
        case .none: return t
        case .plusOne:
            for i in 0..<t.count { t.data[i] -= 1 }
            return t
        case .ropePermutation(let heads):
            // GGUF row (h, 2b + a) holds Hugging Face row (h, a·D/2 + b).
            return permuteRows(t, heads: heads) { a, b, half in 2 * b + a }
        }
    }

    /// The GGUF form of a tensor in Hugging Face's convention (the inverse of `fromGGUF`).
    public func toGGUF(_ t: Tensor) -> Tensor {
        switch self {
        case .none: return t
        case .plusOne:
            let out = Tensor(shape: t.shape, zeroed: false)
            for i in 0..<t.count { out.data[i] = t.data[i] + 1 }
            return out
        case .ropePermutation(let heads):
            let out = Tensor(shape: t.shape, zeroed: false)
            let rows = t.shape[0], cols = t.count / rows, d = rows / heads, half = d / 2
            for h in 0..<heads {
                for a in 0..<2 {
                    for b in 0..<half {
                        (out.data + (h * d + 2 * b + a) * cols).update(from: t.data + (h * d + a * half + b) * cols, count: cols)
                    }
                }
            }
            return out
        }
    }

    /// Hugging Face row (h, a·half + b) taken from stored row (h, source(a, b, half)).
    func permuteRows(_ t: Tensor, heads: Int, source: (Int, Int, Int) -> Int) -> Tensor {
        let out = Tensor(shape: t.shape, zeroed: false)
        let rows = t.shape[0], cols = t.count / rows, d = rows / heads, half = d / 2
        for h in 0..<heads {
            for a in 0..<2 {
                for b in 0..<half {
                    (out.data + (h * d + a * half + b) * cols).update(from: t.data + (h * d + source(a, b, half)) * cols, count: cols)
                }
            }
        }
        return out
    }
}
