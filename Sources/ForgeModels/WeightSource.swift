// WeightSource: where a family's inference network takes its weights from, by Hugging Face parameter name:
// a mapped GGUF file (matrices stay in their stored types; names and conventions are llama.cpp's) or a
// training model's Float32 tensors (views, no copy). Vectors always come in the GGUF convention (Gemma's
// norms as 1 + w), so an inference forward is written once for both.
import ForgeCore
import ForgeKernels
import Foundation

/// Weights for an inference network, by parameter name.
public protocol WeightSource {
    /// For messages: the file or model the weights come from.
    var description: String { get }
    /// True when matrices are stored as llama.cpp's converter wrote them (Llama's Q/K rows permuted).
    var isGGUF: Bool { get }
    /// What keeps the weights' memory alive.
    var owner: AnyObject { get }
    /// Rows `rows` (default all) of the matrix `name`, in its stored type; `packed` regroups it for the decode kernels.
    func matrix(_ name: String, rows: Range<Int>?, packed: Bool) throws -> WeightMatrix
    /// Values `range` (default all) of the vector `name` in Float32, in the GGUF convention.
    func vector(_ name: String, range: Range<Int>?) throws -> [Float]
}

extension WeightSource {
    public func matrix(_ name: String, rows: Range<Int>? = nil, packed: Bool = true) throws -> WeightMatrix {
        try matrix(name, rows: rows, packed: packed)
    }
    public func vector(_ name: String, range: Range<Int>? = nil) throws -> [Float] { try vector(name, range: range) }

    /// A matrix and its name, for projections.
    public func projection(_ name: String, rows: Range<Int>? = nil) throws -> Projection {
        Projection(try matrix(name, rows: rows, packed: true), name)
    }
}

/// A GGUF file's tensors under Hugging Face names (through the family's GGUF name map), used in place.
public final class GGUFWeights: WeightSource {
    public let file: GGUFFile
    let specs: [String: ParameterSpec]
    public var description: String { (file.path as NSString).lastPathComponent }
    public var isGGUF: Bool { true }
    public var owner: AnyObject { file }

    public init(file: GGUFFile, specs: [ParameterSpec]) {
        self.file = file
        self.specs = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    func info(_ name: String) throws -> (GGUFTensorInfo, ParameterSpec) {
        guard let spec = specs[name], let gguf = spec.gguf else { throw ForgeError.file(file.path, "no GGUF tensor for '\(name)'") }
        guard let t = file.tensor(gguf) else { throw ForgeError.file(file.path, "missing tensor '\(gguf)'") }
        guard t.elementCount == spec.elementCount, t.dims.first == spec.shape.last else {
            throw ForgeError.file(file.path, "tensor '\(gguf)' has shape \(t.dims), expected \(Array(spec.shape.reversed()))")
        }
        guard QuantBlocks.isSupported(t.type) else {
            throw ForgeError.file(file.path, "tensor '\(gguf)' has type \(t.type), which Forge cannot run yet "
                                  + "(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K)")
        }
        return (t, spec)
    }

    public func matrix(_ name: String, rows: Range<Int>?, packed: Bool) throws -> WeightMatrix {
        let (t, spec) = try info(name)
        let base = file.data.withUnsafeBytes { $0.baseAddress! }  // valid while the mapping (`file`) lives
        let (r, cols) = (spec.shape[0], spec.shape[1])
        let range = rows ?? 0..<r
        let m = WeightMatrix(type: t.type, rows: range.count, cols: cols,
                             base: base + t.fileOffset + range.lowerBound * (t.byteCount / r))
        return packed ? m.packedForDecode() : m
    }

    public func vector(_ name: String, range: Range<Int>?) throws -> [Float] {
        let (t, _) = try info(name)
        var out = [Float](repeating: 0, count: t.elementCount)
        file.withBytes(of: t) { raw in
            out.withUnsafeMutableBufferPointer { QuantBlocks.dequantize(t.type, raw.baseAddress!, $0.baseAddress!, count: t.elementCount) }
        }
        return range.map { Array(out[$0]) } ?? out
    }
}

/// A training model's Float32 tensors, viewed in place (a trained model becomes an inference model in memory).
public final class TensorWeights: WeightSource {
    public let model: Transformer
    public let description: String
    public var isGGUF: Bool { false }
    public var owner: AnyObject { model }
    let specs: [String: ParameterSpec]

    public init(_ model: Transformer, name: String) {
        self.model = model
        description = name
        specs = Dictionary(model.specs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    func tensor(_ name: String) throws -> Tensor {
        guard let p = model.parameterIfPresent(name) else { throw ForgeError("\(description): no parameter '\(name)'") }
        return p.value
    }

    public func matrix(_ name: String, rows: Range<Int>?, packed: Bool) throws -> WeightMatrix {
        let t = try tensor(name)
        let range = rows ?? 0..<t.shape[0]
        return WeightMatrix(type: .f32, rows: range.count, cols: t.shape[1], base: UnsafeRawPointer(t.data + range.lowerBound * t.shape[1]))
    }

    public func vector(_ name: String, range: Range<Int>?) throws -> [Float] {
        let t = try tensor(name)
        let r = range ?? 0..<t.count
        var v = Array(UnsafeBufferPointer(start: t.data + r.lowerBound, count: r.count))
        if specs[name]?.ggufTransform == .plusOne { v = v.map { 1 + $0 } }
        return v
    }
}
