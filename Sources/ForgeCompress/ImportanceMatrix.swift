// ImportanceMatrix: llama-imatrix's statistics — for every projection matrix, the sum of squares of its input
// activations per column and the number of rows (tokens) seen — collected by running the model over calibration text,
// and stored in llama.cpp's imatrix GGUF format (general.type "imatrix", imatrix.datasets / chunk_count / chunk_size,
// tensors "<weight>.in_sum2" [columns, 1] and "<weight>.counts" [1, 1], F32), which llama-quantize reads and which
// `forge quantize --imatrix` reads. The weight a column gets in quantization is in_sum2 / count.
import ForgeAutograd
import ForgeCore
import ForgeModels
import ForgeTokenizer
import Foundation

public struct ImportanceMatrix: Sendable {
    /// Per GGUF weight name: Σ x² per input column, and the rows counted.
    public var sums: [String: [Double]]
    public var counts: [String: Int]
    public var datasets: [String]
    public var chunkCount: Int
    public var chunkSize: Int

    /// The quantization weights of a tensor (in_sum2 / count), or nil when the matrix has no entry for it.
    public func weights(_ name: String) -> [Float]? {
        guard let s = sums[name], let c = counts[name] else { return nil }
        return c > 0 ? s.map { Float($0 / Double(c)) } : [Float](repeating: 1, count: s.count)
    }

    /// Records a projection's inputs as they pass; adds nothing to its output.
    final class Observer: ProjectionAdapter {
        let out: Int
        var sums: [Double]
        var rows = 0
        init(in n: Int, out: Int) { self.out = out; sums = [Double](repeating: 0, count: n) }
        var parameters: [Variable] { [] }
        func delta(_ tape: Tape, _ x: Variable) -> Variable {
            let n = sums.count, r = x.value.count / n
            let p = x.value.data
            sums.withUnsafeMutableBufferPointer { s in
                for i in 0..<r { for j in 0..<n { let v = Double(p[i * n + j]); s[j] += v * v } }
            }
            rows += r
            return Variable(Tensor(shape: [r, out], zeroed: true))
        }
    }

    /// Runs `model` over `tokens` in chunks of `chunkSize` (the first token of each replaced by `bos` when given, as
    /// llama-imatrix does) and collects the statistics of every projection matrix except the output matrix.
    public static func collect(_ model: Transformer, tokens: [Int32], chunkSize: Int, maxChunks: Int?, bos: Int32?,
                               dataset: String, log: (String) -> Void = { _ in }) throws -> ImportanceMatrix {
        let chunks = min(maxChunks ?? .max, tokens.count / chunkSize)
        guard chunks >= 1 else { throw ForgeError("the text has \(tokens.count) tokens: fewer than one chunk of \(chunkSize)") }
        guard chunkSize <= model.config.contextLength else { throw ForgeError("chunks of \(chunkSize) exceed the model context \(model.config.contextLength)") }
        var observers: [(String, String, Observer)] = []
        for spec in model.specs where spec.shape.count == 2 && spec.decays {
            guard let g = spec.gguf, g != "output.weight" else { continue }
            let o = Observer(in: spec.shape[1], out: spec.shape[0])
            observers.append((spec.name, g, o))
        }
        let saved = model.adapters
        defer { model.adapters = saved }
        for (name, _, o) in observers { model.adapters[name] = o }
        let start = Date()
        for c in 0..<chunks {
            var chunk = Array(tokens[(c * chunkSize)..<((c + 1) * chunkSize)])
            if let bos { chunk[0] = bos }
            _ = model.logits(Tape(recording: false), tokens: chunk, batch: 1, seq: chunkSize)
            let t = Date().timeIntervalSince(start)
            log(String(format: "imatrix: chunk %d/%d, %.0f tokens/s, ETA %.0f s", c + 1, chunks, Double((c + 1) * chunkSize) / t,
                       t / Double(c + 1) * Double(chunks - c - 1)))
        }
        var sums: [String: [Double]] = [:], counts: [String: Int] = [:]
        for (_, g, o) in observers { sums[g] = o.sums; counts[g] = o.rows }
        return ImportanceMatrix(sums: sums, counts: counts, datasets: [dataset], chunkCount: chunks, chunkSize: chunkSize)
    }

    /// Writes llama.cpp's imatrix GGUF (atomically).
    public func write(to path: String) throws {
        var w = GGUFWriter()
        w.set("general.type", .string("imatrix"))
        w.set("imatrix.datasets", .strings(datasets))
        w.set("imatrix.chunk_count", .u32(UInt32(chunkCount)))
        w.set("imatrix.chunk_size", .u32(UInt32(chunkSize)))
        func floats(_ v: [Float]) -> [UInt8] { v.withUnsafeBytes { [UInt8]($0) } }
        for name in sums.keys.sorted() {
            let s = sums[name]!.map { Float($0) }, c = Float(counts[name] ?? 0)
            try w.add(GGUFWriter.Tensor(name: name + ".in_sum2", dims: [s.count, 1], type: .f32) { floats(s) })
            try w.add(GGUFWriter.Tensor(name: name + ".counts", dims: [1, 1], type: .f32) { floats([c]) })
        }
        try w.write(to: path)
    }

    /// Reads an imatrix GGUF (llama-imatrix's or Forge's); errors name the file and the problem.
    public static func read(_ path: String) throws -> ImportanceMatrix {
        let file = try GGUFFile(path: path)
        guard file["general.type"]?.string == "imatrix" else {
            throw ForgeError.file(path, "not an importance matrix (general.type is not \"imatrix\"; the legacy .dat format is not read)")
        }
        var sums: [String: [Double]] = [:], counts: [String: Int] = [:]
        func floats(_ t: GGUFTensorInfo) throws -> [Float] {
            guard t.type == .f32 else { throw ForgeError.file(path, "tensor '\(t.name)' is \(t.type), not F32") }
            return file.withBytes(of: t) { raw in (0..<t.elementCount).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
        }
        for t in file.tensors {
            if t.name.hasSuffix(".in_sum2") {
                let v = try floats(t)
                guard v.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw ForgeError.file(path, "'\(t.name)' holds negative or non-finite values") }
                guard t.dims.count < 2 || t.dims[1] == 1 else { throw ForgeError.file(path, "'\(t.name)' is per expert (\(t.dims)); only dense models are read") }
                sums[String(t.name.dropLast(8))] = v.map(Double.init)
            } else if t.name.hasSuffix(".counts") {
                let v = try floats(t)
                guard v.count == 1, v[0].isFinite, v[0] >= 0 else { throw ForgeError.file(path, "'\(t.name)' is not one count") }
                counts[String(t.name.dropLast(7))] = Int(v[0])
            }
        }
        for name in sums.keys where counts[name] == nil { throw ForgeError.file(path, "'\(name).in_sum2' has no counts") }
        return ImportanceMatrix(sums: sums, counts: counts, datasets: file["imatrix.datasets"]?.strings ?? [],
                                chunkCount: file["imatrix.chunk_count"]?.int ?? 0, chunkSize: file["imatrix.chunk_size"]?.int ?? 0)
    }
}
