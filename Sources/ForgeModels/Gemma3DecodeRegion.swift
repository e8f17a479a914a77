// Gemma3DecodeRegion: a Gemma 3 model's decoded token as one worker region (DecodeRegionState says how and why).
// Beside Llama's steps: per-head norms of the queries (each part, on its own copy) and keys (part 0, before the
// store), the queries scaled before attention, the sliding window of local layers and their own RoPE base,
// norms after the attention and the feed-forward block, and GELU gating.
import ForgeCore
import ForgeKernels

extension Gemma3.Network {
    /// Runs `pass` as one worker region when it is one decoded token (`ForwardPass.decodeRegionRows`); false otherwise.
    func forwardInRegion(_ pass: ForwardPass) -> Bool {
        let c = config
        let m = DecodeRegionMatrices(all: matrices, layers: { self.layers.map { L in [L.q, L.k, L.v, L.o, L.gate, L.up, L.down].map(\.matrix) } },
                                     output: output.matrix, embedding: embedding)
        // llama.cpp scales the queries, then attends with scale 1.
        return region.decode(pass, m, embedScale: Float(c.width).squareRoot(), scale: 1) { s, rows in
            let bases = Array(Set((0..<c.layers).map { c.ropeBase($0) })).sorted()
            let baseOf = (0..<c.layers).map { l in bases.firstIndex(of: c.ropeBase(l))! }
            baseOf.withUnsafeBufferPointer { baseOf in
                run(s, rows, bases: bases.map { Float($0) }, baseOf: baseOf.baseAddress!, position: pass.batch.positions[0],
                    inOrder: pass.normInOrder)
            }
        }
    }

    private func run(_ s: DecodeRegionState, _ cacheRows: PagedDecodeRows, bases: [Float], baseOf: UnsafePointer<Int>,
                     position: Int, inOrder: Bool) {
        let c = config, C = c.width, F = c.ffnWidth, H = c.heads, G = c.kvHeads, D = c.headDim
        let norms = normWeights, stride = normStride, eps = c.normEps, layers = c.layers, tableGELU = self.tableGELU
        let group = H / G, half = cacheRows.half, queryScale = c.scoreScale
        let products = s.products, (x0, x1, q, k, v, att, tmp, gate, up) = (s.x0, s.x1, s.q, s.k, s.v, s.att, s.tmp, s.gate, s.up)
        WorkerPool.shared.region { part in
            let own = s.buffers(part), (r, h, g, qr) = (own.r, own.h, own.g, own.qr)
            let plan = products.plan()
            let ropes = bases.map { RoPERows(positions: [position], headDim: D, theta: $0) }
            var x = x0, y = x1
            StepProfile.measure(.norm) { LlamaCppMath.rmsNorm(x, weight: norms, h, rows: 1, cols: C, eps: eps, inOrder: inOrder) }
            /// r = x + tmp normed with `post`, this part's slice of it into y, h = r normed with `next`; y is then the stream.
            func residual(_ post: UnsafePointer<Float>, _ next: UnsafePointer<Float>) {
                StepProfile.measure(.norm) { LlamaCppMath.rmsNorm(tmp, weight: post, r, rows: 1, cols: C, eps: eps, inOrder: inOrder) }
                StepProfile.measure(.residual) {
                    for i in 0..<C { r[i] = x[i] + r[i] }
                    (y + own.lo).update(from: r + own.lo, count: own.hi - own.lo)
                }
                StepProfile.measure(.norm) { LlamaCppMath.rmsNorm(r, weight: next, h, rows: 1, cols: C, eps: eps, inOrder: inOrder) }
                swap(&x, &y)
            }
            for l in 0..<layers {
                let id = s.layers[l], shape = s.shapes[l], rows = cacheRows.rows(layer: l), rope = ropes[baseOf[l]]
                let w = norms + l * stride, qNorm = w + C, kNorm = qNorm + D, postAttention = kNorm + D
                let ffnNorm = postAttention + C, postFFN = ffnNorm + C
                StepProfile.measure(.project) { products.run(id.qkv, h, part, plan) }
                StepProfile.measure(.attention) {
                    part.single {
                        LlamaCppMath.rmsNorm(k, weight: kNorm, k, rows: G, cols: D, eps: eps, inOrder: inOrder)
                        RoPE.rotate(k, rows: 0..<1, heads: G, table: rope, adjacent: false)
                        PagedAttention.store(k, v, width: G * D, at: position, in: rows, half: half)
                    }
                    qr.update(from: q, count: H * D)
                    LlamaCppMath.rmsNorm(qr, weight: qNorm, qr, rows: H, cols: D, eps: eps, inOrder: inOrder)
                    RoPE.rotate(qr, rows: 0..<1, heads: H, table: rope, adjacent: false)
                    for i in 0..<(H * D) { qr[i] *= queryScale }
                    part.forEach(H, minChunk: 1) { heads in
                        PagedAttention.attendHeads(qr, att, heads: heads, group: group, cache: rows, position: position, half: half,
                                                   headDim: D, scale: shape.scale, window: shape.window, exact: shape.exact, scratch: own.scratch)
                    }
                }
                StepProfile.measure(.project) { products.run(id.o, att, part, plan) }
                residual(postAttention, ffnNorm)
                StepProfile.measure(.project) { products.run(id.gateUp, h, part, plan) }
                StepProfile.measure(.activation) { Gemma3.gatedGELU(gate: gate, up: up, into: g, count: F, table: tableGELU) }
                StepProfile.measure(.project) { products.run(id.down, g, part, plan) }
                residual(postFFN, norms + (l + 1) * stride)  // (after the last layer: the output norm)
            }
            StepProfile.measure(.logits) { products.run(s.logitsId, h, part, plan) }
        }
    }
}
