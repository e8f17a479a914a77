// LlamaDecodeRegion: a Llama model's decoded token as one worker region (DecodeRegionState says how and why).
import ForgeCore
import ForgeKernels

extension Llama.Network {
    /// Runs `pass` as one worker region when it is one decoded token (`ForwardPass.decodeRegionRows`); false otherwise.
    func forwardInRegion(_ pass: ForwardPass) -> Bool {
        let m = DecodeRegionMatrices(all: matrices, layers: { self.layers.map { L in [L.q, L.k, L.v, L.o, L.gate, L.up, L.down].map(\.matrix) } },
                                     output: output.matrix, embedding: embedding)
        return region.decode(pass, m) { s, rows in run(s, rows, position: pass.batch.positions[0], inOrder: pass.normInOrder) }
    }

    private func run(_ s: DecodeRegionState, _ cacheRows: PagedDecodeRows, position: Int, inOrder: Bool) {
        let c = config, C = c.width, F = c.ffnWidth, H = c.heads, G = c.kvHeads, D = c.headDim
        let norms = normWeights, eps = c.normEps, adjacent = self.adjacent, layers = c.layers
        let theta = Float(c.ropeTheta), group = H / G, half = cacheRows.half
        let products = s.products, (x0, x1, q, k, v, att, tmp, gate, up) = (s.x0, s.x1, s.q, s.k, s.v, s.att, s.tmp, s.gate, s.up)
        WorkerPool.shared.region { part in
            let own = s.buffers(part), (r, h, g, qr) = (own.r, own.h, own.g, own.qr)
            let plan = products.plan()
            let rope = RoPERows(positions: [position], headDim: D, theta: theta)
            var x = x0, y = x1
            StepProfile.measure(.norm) { LlamaCppMath.rmsNorm(x, weight: norms, h, rows: 1, cols: C, eps: eps, inOrder: inOrder) }
            /// r = x + tmp, this part's slice of it into y, and h = r normed with `weight`; y is then the stream.
            func residual(_ weight: UnsafePointer<Float>) {
                StepProfile.measure(.residual) {
                    for i in 0..<C { r[i] = x[i] + tmp[i] }
                    (y + own.lo).update(from: r + own.lo, count: own.hi - own.lo)
                }
                StepProfile.measure(.norm) { LlamaCppMath.rmsNorm(r, weight: weight, h, rows: 1, cols: C, eps: eps, inOrder: inOrder) }
                swap(&x, &y)
            }
            for l in 0..<layers {
                let id = s.layers[l], shape = s.shapes[l], rows = cacheRows.rows(layer: l)
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
                                                   headDim: D, scale: shape.scale, window: shape.window, exact: shape.exact, scratch: own.scratch)
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
