// GGUFQuantizer: writes a model as a quantized GGUF file the way llama-quantize does: the source's metadata
// copied in order (split keys dropped; general.quantization_version and general.file_type set last), tensors in
// llama.cpp's order with the plan's types, each quantized with the reference rules (GGMLQuantize), rows spread
// over the threads. For a F32/F16 GGUF input the result is byte-identical to llama-quantize's file.
import ForgeCore
import ForgeKernels
import Foundation
import Synchronization

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
    /// With `importance` (and its file's path as given, recorded as llama-quantize records it), the tensors it has an
    /// entry for are quantized with its weights.
    public static func quantize(_ source: GGUFModelSource, fileType: QuantizationFileType, pure: Bool = false, to path: String,
                                importance: ImportanceMatrix? = nil, importancePath: String? = nil,
                                log: (String) -> Void = { _ in }) throws -> QuantizationSummary {
        let entries = source.tensors.map { QuantizationPlan.Entry(name: $0.name, dims: $0.dims, type: $0.type) }
        let plan = QuantizationPlan(tensors: entries, layers: source.layers, fileType: fileType, pure: pure,
                                    hasImportance: importance != nil)
        let byName = Dictionary(source.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var w = GGUFWriter()
        for (k, v) in source.metadata where !k.hasPrefix("split.") { w.setEncoded(k, v) }
        w.set("general.quantization_version", .u32(2))
        w.set("general.file_type", .u32(fileType.llamaFileType))
        if let importance {
            // What llama-quantize records (its key/value overrides: strings cut to 127 bytes, counts as u32).
            func cut(_ s: String) -> String { String(decoding: Array(s.utf8.prefix(127)), as: UTF8.self) }
            if let importancePath { w.set("quantize.imatrix.file", .string(cut(importancePath))) }
            if let d = importance.datasets.first { w.set("quantize.imatrix.dataset", .string(cut(d))) }
            w.set("quantize.imatrix.entries_count", .u32(UInt32(importance.sums.count)))
            if importance.chunkCount > 0 { w.set("quantize.imatrix.chunks_count", .u32(UInt32(importance.chunkCount))) }
        }
        var counts: [String: Int] = [:]
        var bytesIn = 0
        for (entry, type) in plan.targets {
            let t = byName[entry.name]!
            var weights: [Float]? = nil
            if let importance, type != t.type, let wv = importance.weights(t.name) {
                guard wv.count == t.dims[0] else {
                    throw ForgeError("the importance matrix has \(wv.count) values for '\(t.name)', whose rows have \(t.dims[0])")
                }
                guard wv.allSatisfy({ $0.isFinite }) else { throw ForgeError("the importance matrix holds non-finite values for '\(t.name)'") }
                weights = wv
            }
            counts["\(type)", default: 0] += 1
            bytesIn += t.count / t.type.block.elements * t.type.block.bytes
            try w.add(GGUFWriter.Tensor(name: t.name, dims: t.dims, type: type) {
                defer { t.done() }
                if type == t.type, let raw = t.storedBytes { return raw() }
                let rows = t.count / t.dims[0], perRow = t.dims[0]
                if let mapped = t.withMappedFloats {
                    return try mapped { try encodeParallel($0, type: type, rows: rows, perRow: perRow, name: t.name, importance: weights) }
                }
                let v = try t.values()
                return try v.withUnsafeBufferPointer {
                    try encodeParallel($0.baseAddress!, type: type, rows: rows, perRow: perRow, name: t.name, importance: weights)
                }
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
        try v.withUnsafeBufferPointer { try encodeParallel($0.baseAddress!, type: type, rows: rows, perRow: perRow, name: name) }
    }

    /// Encodes `rows` rows of `perRow` values at `src`, rows split over `Parallel.threads`.
    static func encodeParallel(_ src: UnsafePointer<Float>, type: GGMLType, rows: Int, perRow: Int, name: String,
                               importance: [Float]? = nil) throws -> [UInt8] {
        let rowBytes = GGMLQuantize.rowBytes(type, perRow)
        let s = UncheckedSendable(src)
        let bad = Mutex<Int?>(nil)
        let out = [UInt8](unsafeUninitializedCapacity: rows * rowBytes) { buf, count in
            let d = UncheckedSendable(buf.baseAddress!)
            Parallel.forEach(rows, grain: max(1, 65536 / max(perRow, 1))) { r in
                let start = s.value + r.lowerBound * perRow, n = r.count * perRow
                if let i = firstNonFinite(start, n) {
                    bad.withLock { $0 = min($0 ?? .max, r.lowerBound * perRow + i) }
                    return
                }
                if let importance {
                    importance.withUnsafeBufferPointer {
                        GGMLQuantize.quantize(type, start, d.value + r.lowerBound * rowBytes, rows: r.count, perRow: perRow,
                                              importance: $0.baseAddress!)
                    }
                } else {
                    GGMLQuantize.quantize(type, start, d.value + r.lowerBound * rowBytes, rows: r.count, perRow: perRow)
                }
            }
            count = rows * rowBytes
        }
        if let i = bad.withLock({ $0 }) {
            throw ForgeError("tensor '\(name)' holds a non-finite value (\(src[i]) at \(i)); refusing to quantize it")
        }
        return out
    }

    /// The index of the first NaN or infinity among `n` values, checked 16 at a time.
    static func firstNonFinite(_ p: UnsafePointer<Float>, _ n: Int) -> Int? {
        let raw = UnsafeRawPointer(p)
        var top = SIMD16<UInt32>()
        var i = 0
        while i + 16 <= n {
            let v = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<UInt32>.self) & 0x7fff_ffff
            top = top.replacing(with: v, where: top .< v)
            i += 16
        }
        var finite = top.max() < 0x7f80_0000
        while i < n { if !p[i].isFinite { finite = false }; i += 1 }
        return finite ? nil : (0..<n).first { !p[$0].isFinite }
    }
}
