// GGUFExport: a model (a Forge or Hugging Face model dir, or a trained model in memory) as the GGUF file
// llama.cpp's converter would write: general.* and the family's `<arch>.*` keys, the tokenizer and chat
// template, and every tensor under its GGUF name in GGUF form (Llama's Q/K rows permuted, Gemma's norms
// stored as 1 + w), matrices in F32/F16/BF16 and vectors in F32 as convert_hf_to_gguf.py keeps them.
import ForgeCore
import ForgeKernels
import ForgeModels
import ForgeTokenizer
import Foundation

/// One tensor on its way into a GGUF file: GGUF name and dims, and its Float32 values in GGUF form.
public struct GGUFSourceTensor {
    public let name: String
    /// Dims as GGUF stores them (fastest first).
    public let dims: [Int]
    /// The stored type in the source (F32 for a model in memory).
    public let type: GGMLType
    /// The values in Float32, produced when needed.
    public let values: () throws -> [Float]
    /// The stored bytes, when the source is a file (copied as they are when the type does not change).
    public var storedBytes: (() -> [UInt8])? = nil
    /// Calls its argument with the Float32 values in place when they are stored as F32 in a mapped file (no copy).
    public var withMappedFloats: (((UnsafePointer<Float>) throws -> [UInt8]) throws -> [UInt8])? = nil
    /// Called when the tensor has been written (a mapped source drops its pages).
    public var done: () -> Void = {}
    public var count: Int { dims.reduce(1, *) }
}

/// A model ready to be written as GGUF: its metadata (in order) and tensors.
public struct GGUFModelSource {
    public var metadata: [(key: String, typedValue: [UInt8])]
    public var tensors: [GGUFSourceTensor]
    public let layers: Int
    public let description: String

    /// A model in memory with its tokenizer and chat template.
    public init(model: Transformer, tokenizer: any TextTokenizer, chatTemplate: String?, name: String) throws {
        let c = model.config
        guard let arch = try c.family.ggufName else { throw ForgeError("\(c.architecture) models have no GGUF form") }
        guard tokenizer.vocabSize == c.vocabSize else {
            throw ForgeError("the tokenizer has \(tokenizer.vocabSize) tokens but the model's vocabulary is \(c.vocabSize); llama.cpp needs them equal")
        }
        var meta: [(String, GGUFTypedValue)] = [("general.architecture", .string(arch)), ("general.type", .string("model")),
                                                ("general.name", .string(name))]
        meta += try (try c.family).ggufMetadata(c)
        meta += try GGUFVocab.ggufMetadata(tokenizer, chatTemplate: chatTemplate)
        metadata = meta.map { ($0.0, $0.1.encoded) }
        var list: [GGUFSourceTensor] = []
        for (spec, p) in zip(model.specs, model.parameters) {
            guard let g = spec.gguf else { continue }
            let value = p.value, transform = spec.ggufTransform
            list.append(GGUFSourceTensor(name: g, dims: Array(spec.shape.reversed()), type: .f32) {
                let t = transform.toGGUF(value)
                return Array(UnsafeBufferPointer(start: t.data, count: t.count))
            })
        }
        tensors = list
        layers = c.layers
        description = "\(c.architecture) \(c.layers)×\(c.width)"
    }

    /// A model dir (Forge's or Hugging Face's).
    public init(modelDir dir: String) throws {
        let model = try ModelDir.loadModel(from: dir)
        let tokenizer = try ModelDir.loadTokenizer(from: dir)
        let name = URL(fileURLWithPath: dir).standardizedFileURL.lastPathComponent
        try self.init(model: model, tokenizer: tokenizer, chatTemplate: ModelDir.chatTemplateSource(dir), name: name)
    }

    /// A GGUF file: metadata copied as stored, tensors decoded to Float32 when needed.
    public init(gguf file: GGUFFile) throws {
        metadata = file.rawMetadata
        var list: [GGUFSourceTensor] = []
        for t in file.tensors {
            guard QuantBlocks.isSupported(t.type) else { throw ForgeError.file(file.path, "tensor '\(t.name)' has type \(t.type), which Forge cannot decode") }
            var s = GGUFSourceTensor(name: t.name, dims: t.dims, type: t.type) {
                var out = [Float](repeating: 0, count: t.elementCount)
                out.withUnsafeMutableBufferPointer { o in file.withBytes(of: t) { QuantBlocks.dequantize(t.type, $0.baseAddress!, o.baseAddress!, count: t.elementCount) } }
                return out
            }
            s.storedBytes = { file.withBytes(of: t) { [UInt8]($0) } }
            if t.type == .f32 {
                s.withMappedFloats = { body in try file.withBytes(of: t) { try body($0.baseAddress!.assumingMemoryBound(to: Float.self)) } }
            }
            s.done = { file.dropPages(of: t) }
            list.append(s)
        }
        tensors = list
        let arch = file["general.architecture"]?.string ?? ""
        layers = file["\(arch).block_count"]?.int ?? 0
        description = "\(arch) GGUF (\(file.tensors.count) tensors)"
    }

    /// Loads a model dir or a .gguf file.
    public static func load(_ path: String) throws -> GGUFModelSource {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ForgeError.file(path, "no such file or directory") }
        return isDir.boolValue ? try GGUFModelSource(modelDir: path) : try GGUFModelSource(gguf: GGUFFile(path: path))
    }
}

/// Writes models as GGUF files, exported or quantized.
public enum GGUFExport {
    /// Writes `source` with matrices in `type` (F32, F16 or BF16) and vectors in F32, in the source's tensor order.
    public static func write(_ source: GGUFModelSource, type: GGMLType, to path: String, log: (String) -> Void = { _ in }) throws {
        guard [.f32, .f16, .bf16].contains(type) else { throw ForgeError("export writes F32, F16 or BF16 (use `forge quantize` for \(type))") }
        var w = GGUFWriter()
        for (k, v) in source.metadata { w.setEncoded(k, v) }
        w.set("general.file_type", .u32(type == .f32 ? 0 : type == .f16 ? 1 : 32))
        w.set("general.quantization_version", .u32(2))
        for t in source.tensors {
            let target: GGMLType = t.dims.count >= 2 ? type : .f32
            try w.add(GGUFWriter.Tensor(name: t.name, dims: t.dims, type: target) {
                let v = try t.values()
                return try GGUFQuantizer.encodeParallel(v, type: target, rows: t.count / t.dims[0], perRow: t.dims[0], name: t.name)
            })
        }
        try w.write(to: path) { i, t in log("[\(i + 1)/\(w.tensors.count)] \(t.name) \(t.dims) \(t.type)") }
    }
}

extension GGUFExport {
    /// The sample text tokenizers are compared on: scripts, digits, whitespace runs, code and special tokens' neighbours.
    static let tokenizerSample = """
    Hello, world! It's 2026-12-05; the price is $1,234.56 (about 1234567 units).\n\n  Indented  text\twith\ttabs\r\n\
    Ça va? Größe, naïve café — “quotes” ‘and’ «guillemets». 日本語のテキスト、中文字符。 한국어 텍스트. Привет, мир!\n\
    def f(x):\n    return x ** 2  # comment\n\n\n   trailing spaces   \nemoji 🙂👍🏽 and symbols ∑∫√ ≤ ≥ ≠.
    """

    /// nil when the tokenizer stored in the GGUF file encodes the sample text as `expected` does, else a description.
    public static func tokenizerMismatch(gguf path: String, expected: any TextTokenizer) throws -> String? {
        let stored = try GGUFVocab.load(path: path)
        let a = expected.encode(tokenizerSample, allowSpecial: false), b = stored.encode(tokenizerSample, allowSpecial: false)
        guard a != b else { return nil }
        let i = Array(zip(a, b)).firstIndex { $0.0 != $0.1 } ?? min(a.count, b.count)
        return "the sample text gives \(a.count) tokens from the dir and \(b.count) from the file, first difference at token \(i)"
    }
}
