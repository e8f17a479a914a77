// InferenceSession: one conversation's key/value cache and the forward pass that fills it.
//
// `forward` runs new tokens (a prompt as one batch, or one sampled token) at the next positions and
// returns logits. Long inputs go in chunks of `maxChunk` tokens; K and V are written straight into
// the cache rows of their positions.
import ForgeCore
import ForgeKernels
import Foundation

/// Which of the new positions need logits.
public enum LogitRows: Sendable, Equatable { case none, last, all }

/// How the key/value cache stores its values (llama.cpp's `--cache-type-k/-v`).
public enum KVCacheType: String, Sendable, CaseIterable {
    /// Half the memory; attention computed as llama.cpp's CPU backend does (its default).
    case f16
    /// Full precision: the engine reproduces the training model's logits.
    case f32
}

public final class InferenceSession {
    public let model: InferenceModel
    /// Positions the cache holds (at most the model's context length).
    public let capacity: Int
    /// Tokens in the cache, in order.
    public private(set) var tokens: [Int32] = []
    public var position: Int { tokens.count }
    public let cacheType: KVCacheType
    /// Per layer: positions × kvWidth values of `cacheType`.
    let keys: [UnsafeMutableRawPointer]
    let values: [UnsafeMutableRawPointer]
    let rope: RoPETable?
    /// Largest batch of tokens one forward step runs.
    public static let maxChunk = 512

    /// A session with room for `contextLength` positions (default: the model's whole context).
    public init(model: InferenceModel, contextLength: Int? = nil, cacheType: KVCacheType = .f16) throws {
        let c = model.config
        let n = contextLength ?? c.contextLength
        guard n >= 1, n <= c.contextLength else {
            throw ForgeError("context length \(n) is outside 1...\(c.contextLength), the range of this model")
        }
        self.model = model
        capacity = n
        self.cacheType = cacheType
        let bytes = n * c.kvWidth * (cacheType == .f16 ? 2 : 4)
        keys = (0..<c.layers).map { _ in UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64) }
        values = (0..<c.layers).map { _ in UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64) }
        rope = c.family == .llama ? RoPETable(ggmlHeadDim: c.headDim, positions: n, theta: c.ropeTheta) : nil
    }

    deinit {
        for p in keys { p.deallocate() }
        for p in values { p.deallocate() }
    }

    /// Empties the cache.
    public func reset() { tokens.removeAll() }

    /// Keeps the first `count` cached tokens and forgets the rest (their rows are overwritten later).
    public func rewind(to count: Int) {
        precondition(count >= 0 && count <= tokens.count)
        tokens.removeLast(tokens.count - count)
    }

    /// Runs `input` at the next positions; returns logits (vocab floats per requested row).
    public func forward(_ input: [Int32], logits rows: LogitRows = .last) throws -> [Float] {
        let c = model.config
        guard !input.isEmpty else { return [] }
        guard position + input.count <= capacity else {
            throw ForgeError("\(position + input.count) tokens do not fit the context window of \(capacity) tokens")
        }
        if let bad = input.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
            throw ForgeError("token id \(bad) is outside the vocabulary of \(c.vocabSize)")
        }
        var out: [Float] = []
        var i = 0
        while i < input.count {
            let n = min(Self.maxChunk, input.count - i)
            let want: LogitRows = rows == .all ? .all : (rows == .last && i + n == input.count ? .last : .none)
            out += step(Array(input[i..<(i + n)]), logits: want)
            i += n
        }
        return out
    }

    /// One batch of at most `maxChunk` tokens.
    func step(_ input: [Int32], logits rows: LogitRows) -> [Float] {
        let c = model.config
        let T = input.count, C = c.width, F = c.ffnWidth, kvW = c.kvWidth, p0 = position
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: T * (5 * C + 2 * F + 2 + 2 * kvW))
        defer { scratch.deallocate() }
        let x = scratch, h = x + T * C, q = h + T * C, att = q + T * C, tmp = att + T * C
        let gate = tmp + T * C, up = gate + T * F, mean = up + T * F, rstd = mean + T
        let kNew = rstd + T, vNew = kNew + T * kvW

        for (t, id) in input.enumerated() {
            model.tokenEmbedding.dequantizeRow(Int(id), into: x + t * C)
            if let wpe = model.positionEmbedding {
                wpe.withUnsafeBufferPointer { add(x + t * C, $0.baseAddress! + (p0 + t) * C, C) }
            }
        }
        for (l, layer) in model.layers.enumerated() {
            norm(x, into: h, layer.attentionNorm, rows: T, mean: mean, rstd: rstd)
            WeightMatrix.multiply([(layer.q, q), (layer.k, kNew), (layer.v, vNew)], h, tokens: T)
            addBias(layer.qBias, q, rows: T, cols: C)
            addBias(layer.kBias, kNew, rows: T, cols: kvW)
            addBias(layer.vBias, vNew, rows: T, cols: kvW)
            if let rope {
                let adjacent = c.ropeStyle == .adjacent
                RoPE.applyInPlace(q, rows: T, heads: c.heads, table: rope, start: p0, adjacent: adjacent)
                RoPE.applyInPlace(kNew, rows: T, heads: c.kvHeads, table: rope, start: p0, adjacent: adjacent)
            }
            store(kNew, into: keys[l], at: p0, count: T * kvW)
            store(vNew, into: values[l], at: p0, count: T * kvW)
            switch cacheType {
            case .f16:
                CachedAttention.forward(q: q, keys: keys[l].assumingMemoryBound(to: Float16.self),
                                        values: values[l].assumingMemoryBound(to: Float16.self), out: att, tokens: T, start: p0,
                                        heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
            case .f32:
                CachedAttention.forward(q: q, keys: keys[l].assumingMemoryBound(to: Float.self),
                                        values: values[l].assumingMemoryBound(to: Float.self), out: att, tokens: T, start: p0,
                                        heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
            }
            layer.o.multiply(att, tokens: T, into: tmp)
            addBias(layer.oBias, tmp, rows: T, cols: C)
            // As llama.cpp does, the last layer's feed-forward block runs only on the rows whose logits are
            // wanted (none, or the last one): less work, and the same batch sizes as llama.cpp's, which pick
            // its kernels (and their float order).
            var n = T
            if l == c.layers - 1 && rows != .all {
                if rows == .none { break }
                if T > 1 {
                    x.update(from: x + (T - 1) * C, count: C)
                    tmp.update(from: tmp + (T - 1) * C, count: C)
                }
                n = 1
            }
            add(x, tmp, n * C)
            norm(x, into: h, layer.ffnNorm, rows: n, mean: mean, rstd: rstd)
            if let g = layer.gate {
                WeightMatrix.multiply([(g, gate), (layer.up, up)], h, tokens: n)
                LlamaCppMath.swiglu(gate: gate, up: up, gate, n * F)
                layer.down.multiply(gate, tokens: n, into: tmp)
            } else {
                layer.up.multiply(h, tokens: n, into: up)
                addBias(layer.upBias, up, rows: n, cols: F)
                Activations.geluForward(up, up, n * F)
                layer.down.multiply(up, tokens: n, into: tmp)
            }
            addBias(layer.downBias, tmp, rows: n, cols: C)
            add(x, tmp, n * C)
        }
        tokens += input

        // After the last layer, x holds all T rows (.all) or the last row alone, at row 0.
        let count = rows == .all ? T : 1
        guard rows != .none else { return [] }
        norm(x, into: h, model.outputNorm, rows: count, mean: mean, rstd: rstd)
        var logits = [Float](repeating: 0, count: count * c.vocabSize)
        logits.withUnsafeMutableBufferPointer { model.output.multiply(h, tokens: count, into: $0.baseAddress!) }
        return logits
    }

    /// Writes `count` new values (rows from position `p0` on) into a cache of `cacheType`.
    func store(_ src: UnsafePointer<Float>, into cache: UnsafeMutableRawPointer, at p0: Int, count: Int) {
        let offset = p0 * model.config.kvWidth
        switch cacheType {
        case .f32: (cache.assumingMemoryBound(to: Float.self) + offset).update(from: src, count: count)
        case .f16:
            let dst = cache.assumingMemoryBound(to: Float16.self) + offset
            var i = 0
            while i + 16 <= count { storeHalf16(load16(src, i), dst, i); i += 16 }
            while i < count { dst[i] = Float16(src[i]); i += 1 }
        }
    }

    func norm(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ w: NormWeights, rows: Int,
              mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        let c = model.config
        w.weight.withUnsafeBufferPointer { wb in
            if let bias = w.bias {
                bias.withUnsafeBufferPointer { bb in
                    Norms.layerNormForward(x: x, weight: wb.baseAddress!, bias: bb.baseAddress!, out: y, mean: mean, rstd: rstd,
                                           rows: rows, cols: c.width, eps: c.normEps)
                }
            } else {
                LlamaCppMath.rmsNorm(x, weight: wb.baseAddress!, y, rows: rows, cols: c.width, eps: c.normEps)
            }
        }
    }

    func addBias(_ bias: [Float]?, _ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        guard let bias else { return }
        bias.withUnsafeBufferPointer { b in for r in 0..<rows { add(y + r * cols, b.baseAddress!, cols) } }
    }

    @inline(__always) func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n { store16(load16(y, i) + load16(x, i), y, i); i += 16 }
        while i < n { y[i] += x[i]; i += 1 }
    }
}
