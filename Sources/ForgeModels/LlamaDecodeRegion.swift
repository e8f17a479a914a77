// LlamaDecodeRegion: a Llama model's decoded token as one worker region (DecodeRegionState says how and why).
import ForgeCore
import ForgeKernels

extension Llama.Network {
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
        pass.embed(embedding, into: s.x0)
        let V = output.matrix.rows
        pass.logits = [Float](unsafeUninitializedCapacity: V) { logits, initialized in
            s.products.setOutput(s.logitsId, logits.baseAddress!)
            let shapes = (0..<c.layers).map { pass.attentionShape(layer: $0) }
            s.ids.withUnsafeBufferPointer { ids in
                shapes.withUnsafeBufferPointer { shapes in
                    run(s, ids.baseAddress!, shapes.baseAddress!, cacheRows, position: position, inOrder: pass.normInOrder)
                }
            }
            initialized = V
        }
    }

    private func run(_ s: DecodeRegionState, _ ids: UnsafePointer<(qkv: Int, o: Int, gateUp: Int, down: Int)>,
                     _ shapes: UnsafePointer<CacheAttentionShape>, _ cacheRows: PagedDecodeRows, position: Int, inOrder: Bool) {
        let c = config, C = c.width, F = c.ffnWidth, H = c.heads, G = c.kvHeads, D = c.headDim
        let norms = normWeights, eps = c.normEps, adjacent = self.adjacent, layers = c.layers
        let theta = Float(c.ropeTheta), group = H / G, half = cacheRows.half
        let products = s.products, (x0, x1, q, k, v, att, tmp, gate, up) = (s.x0, s.x1, s.q, s.k, s.v, s.att, s.tmp, s.gate, s.up)
        let own = s.own, privateFloats = s.privateFloats, attention = s.attention, attentionStride = s.attentionStride
        WorkerPool.shared.region { part in
            let r = own + part.index * privateFloats, h = r + C, g = h + C, qr = g + F
            let scratch = attention + part.index * attentionStride
            let plan = products.plan()
            let rope = RoPERows(positions: [position], headDim: D, theta: theta)
            // The slice of the residual stream this part writes.
            let lo = C * part.index / part.parts / 16 * 16, hi = part.index + 1 == part.parts ? C : C * (part.index + 1) / part.parts / 16 * 16
            var x = x0, y = x1
            StepProfile.measure(.norm) { LlamaCppMath.rmsNorm(x, weight: norms, h, rows: 1, cols: C, eps: eps, inOrder: inOrder) }
            /// r = x + tmp, this part's slice of it into y, and h = r normed with `weight`; y is then the stream.
            func residual(_ weight: UnsafePointer<Float>) {
                StepProfile.measure(.residual) {
                    for i in 0..<C { r[i] = x[i] + tmp[i] }
                    (y + lo).update(from: r + lo, count: hi - lo)
                }
                StepProfile.measure(.norm) { LlamaCppMath.rmsNorm(r, weight: weight, h, rows: 1, cols: C, eps: eps, inOrder: inOrder) }
                swap(&x, &y)
            }
            for l in 0..<layers {
                let id = ids[l], shape = shapes[l], rows = cacheRows.rows(layer: l)
                StepProfile.measure(.project) { products.run(id.qkv, h, part, plan) }
                StepProfile.measure(.attention) {
                    part.single {
                        RoPE.rotate(k, rows: 0..<1, heads: G, table: rope, adjacent: adjacent)
                        PagedAttention.store(k, v, width: G * D, at: position, in: rows, half: half)
                    }
                    qr.update(from: q, count: H * D)
                    RoPE.rotate(qr, rows: 0..<1, heads: H, table: rope, adjacent: adjacent)
                    part.forEach(H, minChunk: 1) { heads in
                        PagedAttention.attendHeads(qr, att, heads: heads, group: group, cache: rows, position: position, half: half,
                                                   headDim: D, scale: shape.scale, window: shape.window, exact: shape.exact, scratch: scratch)
                    }
                }
                StepProfile.measure(.project) { products.run(id.o, att, part, plan) }
                residual(norms + (2 * l + 1) * C)
                StepProfile.measure(.project) { products.run(id.gateUp, h, part, plan) }
                StepProfile.measure(.activation) { LlamaCppMath.swiglu(gate: gate, up: up, g, F) }
                StepProfile.measure(.project) { products.run(id.down, g, part, plan) }
                residual(norms + (2 * l + 2) * C)
            }
            StepProfile.measure(.logits) { products.run(s.logitsId, h, part, plan) }
        }
    }
}
