// Gemma3DecodeRegion: a Gemma 3 model's decoded token as one worker region (DecodeRegionState says how and why).
// Beside Llama's steps: per-head norms of the queries (each part, on its own copy) and keys (part 0, before the
// store), the queries scaled before attention, the sliding window of local layers and their own RoPE base,
// norms after the attention and the feed-forward block, and GELU gating.
import ForgeCore
import ForgeKernels

extension Gemma3.Network {
    /// Runs `pass` as one worker region when it is one decoded token (`ForwardPass.decodeRegionRows`); false otherwise.
    func forwardInRegion(_ pass: ForwardPass) -> Bool {
        guard let cacheRows = pass.decodeRegionRows(matrices) else { return false }
        let c = config
        region.with(order: pass.order, make: {
            DecodeRegionState(c, layers: layers.map { L in [L.q, L.k, L.v, L.o, L.gate, L.up, L.down].map(\.matrix) },
                              output: output.matrix, order: pass.order)
        }) { s in decode(pass, s, cacheRows) }
        return true
    }

    private func decode(_ pass: ForwardPass, _ s: DecodeRegionState, _ cacheRows: PagedDecodeRows) {
        let c = config
        let position = pass.batch.positions[0]
        s.reserveAttention(headDim: c.headDim, keys: position + 1)
        pass.embed(embedding, into: s.x0, scale: Float(c.width).squareRoot())
        let V = output.matrix.rows
        pass.logits = [Float](unsafeUninitializedCapacity: V) { logits, initialized in
            s.products.setOutput(s.logitsId, logits.baseAddress!)
            // llama.cpp scales the queries, then attends with scale 1.
            let shapes = (0..<c.layers).map { pass.attentionShape(layer: $0, scale: 1) }
            let bases = Array(Set((0..<c.layers).map { c.ropeBase($0) })).sorted()
            let baseOf = (0..<c.layers).map { l in bases.firstIndex(of: c.ropeBase(l))! }
            s.ids.withUnsafeBufferPointer { ids in
                shapes.withUnsafeBufferPointer { shapes in
                    baseOf.withUnsafeBufferPointer { baseOf in
                        run(s, ids.baseAddress!, shapes.baseAddress!, cacheRows, bases: bases.map { Float($0) }, baseOf: baseOf.baseAddress!,
                            position: position, inOrder: pass.normInOrder)
                    }
                }
            }
            initialized = V
        }
    }

    private func run(_ s: DecodeRegionState, _ ids: UnsafePointer<(qkv: Int, o: Int, gateUp: Int, down: Int)>,
                     _ shapes: UnsafePointer<CacheAttentionShape>, _ cacheRows: PagedDecodeRows, bases: [Float],
                     baseOf: UnsafePointer<Int>, position: Int, inOrder: Bool) {
        let c = config, C = c.width, F = c.ffnWidth, H = c.heads, G = c.kvHeads, D = c.headDim
        let norms = normWeights, stride = normStride, eps = c.normEps, layers = c.layers, tableGELU = self.tableGELU
        let group = H / G, half = cacheRows.half, queryScale = c.scoreScale
        let products = s.products, (x0, x1, q, k, v, att, tmp, gate, up) = (s.x0, s.x1, s.q, s.k, s.v, s.att, s.tmp, s.gate, s.up)
        let own = s.own, privateFloats = s.privateFloats, attention = s.attention, attentionStride = s.attentionStride
        WorkerPool.shared.region { part in
            let r = own + part.index * privateFloats, h = r + C, g = h + C, qr = g + F
            let scratch = attention + part.index * attentionStride
            let plan = products.plan()
            let ropes = bases.map { RoPERows(positions: [position], headDim: D, theta: $0) }
            // The slice of the residual stream this part writes.
            let lo = C * part.index / part.parts / 16 * 16, hi = part.index + 1 == part.parts ? C : C * (part.index + 1) / part.parts / 16 * 16
            var x = x0, y = x1
            StepProfile.measure(.norm) { LlamaCppMath.rmsNorm(x, weight: norms, h, rows: 1, cols: C, eps: eps, inOrder: inOrder) }
            /// r = x + tmp normed with `post`, this part's slice of it into y, h = r normed with `next`; y is then the stream.
            func residual(_ post: UnsafePointer<Float>, _ next: UnsafePointer<Float>) {
                StepProfile.measure(.norm) { LlamaCppMath.rmsNorm(tmp, weight: post, r, rows: 1, cols: C, eps: eps, inOrder: inOrder) }
                StepProfile.measure(.residual) {
                    for i in 0..<C { r[i] = x[i] + r[i] }
                    (y + lo).update(from: r + lo, count: hi - lo)
                }
                StepProfile.measure(.norm) { LlamaCppMath.rmsNorm(r, weight: next, h, rows: 1, cols: C, eps: eps, inOrder: inOrder) }
                swap(&x, &y)
            }
            for l in 0..<layers {
                let id = ids[l], shape = shapes[l], rows = cacheRows.rows(layer: l), rope = ropes[baseOf[l]]
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
                                                   headDim: D, scale: shape.scale, window: shape.window, exact: shape.exact, scratch: scratch)
                    }
                }
                StepProfile.measure(.project) { products.run(id.o, att, part, plan) }
                residual(postAttention, ffnNorm)
                StepProfile.measure(.project) { products.run(id.gateUp, h, part, plan) }
                StepProfile.measure(.activation) {
                    if tableGELU {
                        LlamaCppMath.geglu(gate: gate, up: up, g, F)
                    } else {
                        Activations.geluForward(gate, g, F)
                        for i in 0..<F { g[i] *= up[i] }
                    }
                }
                StepProfile.measure(.project) { products.run(id.down, g, part, plan) }
                residual(postFFN, l + 1 < layers ? norms + (l + 1) * stride : norms + layers * stride)
            }
            StepProfile.measure(.logits) { products.run(s.logitsId, h, part, plan) }
        }
    }
}
