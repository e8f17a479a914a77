// GGUFQuantizer: writes a model as a quantized GGUF file the way llama-quantize does: the source's metadata
// copied in order (split keys dropped; general.quantization_version and general.file_type set last), tensors in
// llama.cpp's order with the plan's types, each quantized with the reference rules (GGMLQuantize), rows spread
// over the threads. For a F32/F16 GGUF input the result is byte-identical to llama-quantize's file.
import ForgeCore
import ForgeKernels
import Foundation

/// What a quantization did.
public struct QuantizationSummary: Sendable {
    public let fileType: QuantizationFileType
    public let tensors: Int
    public let bytesIn: Int
    public let bytesOut: Int
    public let seconds: Double
    /// Tensor count per written type.
    public let typeCounts: [String: Int]
    public let fallbacks: [String]
}

public enum GGUFQuantizer {
    /// Quantizes `source` to `fileType` into `path` (atomically). `pure`: every quantizable tensor gets the base type.
    public static func quantize(_ source: GGUFModelSource, fileType: QuantizationFileType, pure: Bool = false, to path: String,
                                log: (String) -> Void = { _ in }) throws -> QuantizationSummary {
        let entries = source.tensors.map { QuantizationPlan.Entry(name: $0.name, dims: $0.dims, type: $0.type) }
        let plan = QuantizationPlan(tensors: entries, layers: source.layers, fileType: fileType, pure: pure)
        let byName = Dictionary(source.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var w = GGUFWriter()
        for (k, v) in source.metadata where !k.hasPrefix("split.") { w.setEncoded(k, v) }
        w.set("general.quantization_version", .u32(2))
        w.set("general.file_type", .u32(fileType.llamaFileType))
        var counts: [String: Int] = [:]
        var bytesIn = 0
        for (entry, type) in plan.targets {
            let t = byName[entry.name]!
            counts["\(type)", default: 0] += 1
            bytesIn += t.count / t.type.block.elements * t.type.block.bytes
            try w.add(GGUFWriter.Tensor(name: t.name, dims: t.dims, type: type) {
                if type == t.type, let raw = t.storedBytes { return raw() }
                return try encodeParallel(try t.values(), type: type, rows: t.count / t.dims[0], perRow: t.dims[0], name: t.name)
            })
        }
        let start = Date()
        let total = w.tensors.reduce(0) { $0 + $1.byteCount }
        var done = 0
        try w.write(to: path) { i, t in
            done += t.byteCount
            let elapsed = Date().timeIntervalSince(start)
            let eta = done > 0 ? elapsed * Double(total - done) / Double(done) : 0
            log(String(format: "[%3d/%3d] %-32@ %-8@ %6.2f MiB  %5.1f s, ETA %5.1f s", i + 1, w.tensors.count, t.name as NSString,
                       "\(t.type)" as NSString, Double(t.byteCount) / 1048576, elapsed, eta))
        }
        return QuantizationSummary(fileType: fileType, tensors: w.tensors.count, bytesIn: bytesIn, bytesOut: total,
                                   seconds: Date().timeIntervalSince(start), typeCounts: counts,
                                   fallbacks: plan.fallbacks.map { "\($0.name): \($0.from) → \($0.to)" })
    }

    /// Encodes rows in `type`, rows split over `Parallel.threads`; non-finite values are refused, naming the tensor.
    static func encodeParallel(_ v: [Float], type: GGMLType, rows: Int, perRow: Int, name: String) throws -> [UInt8] {
        if let bad = v.firstIndex(where: { !$0.isFinite }) {
            throw ForgeError("tensor '\(name)' holds a non-finite value (\(v[bad]) at \(bad)); refusing to quantize it")
        }
        let rowBytes = GGMLQuantize.rowBytes(type, perRow)
        var out = [UInt8](repeating: 0, count: rows * rowBytes)
        v.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                let s = UncheckedSendable(src.baseAddress!), d = UncheckedSendable(dst.baseAddress!)
                Parallel.forEach(rows, grain: max(1, 65536 / max(perRow, 1))) { r in
                    GGMLQuantize.quantize(type, s.value + r.lowerBound * perRow, d.value + r.lowerBound * rowBytes,
                                          rows: r.count, perRow: perRow)
                }
            }
        }
        return out
    }
}
