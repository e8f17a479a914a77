// LlamaDecodeRegion: a Llama model's decoded token as one worker region rather than a hand-off per step.
//
// `forward` hands each product, the attention and the logits to the worker pool in turn: ~150 hand-offs a token,
// with norms, RoPE, residuals, SwiGLU and each product's activation rounding run by the caller alone in between.
// Here the whole token is one `WorkerPool.region`. The parts meet at a barrier only where a step needs all of the
// previous one: after each product, after the new key/value row is stored, and after the attention. The small
// steps between (a few hundred floats) are done by every part into its own buffers, so they need no barrier; the
// residual stream is double-buffered and each part writes its slice of the next one. The floats are `forward`'s.
import ForgeCore
import ForgeKernels

/// A decode region's buffers and prepared products for one Llama network, kept from token to token.
final class LlamaDecodeRegion: @unchecked Sendable {
    let order: ProductOrder
    let products: RegionProducts
    /// Per layer: the products' indices (q/k/v, o, gate/up, down); then the logits'.
    let ids: [(qkv: Int, o: Int, gateUp: Int, down: Int)]
    let logitsId: Int
    let buffer: UnsafeMutablePointer<Float>
    let x0, x1, q, k, v, att, tmp, gate, up: UnsafeMutablePointer<Float>
    /// Each part's own floats (`privateFloats` apart): the residual sum, the normed row, SwiGLU's output, the rotated queries.
    let own: UnsafeMutablePointer<Float>
    let privateFloats: Int
    /// Each part's attention scratch (`attentionStride` bytes apart), grown with the positions.
    var attention: UnsafeMutableRawPointer
    var attentionStride = 0

    init(_ n: Llama.Network, order: ProductOrder, products: RegionProducts) {
        let c = n.config, C = c.width, F = c.ffnWidth, parts = WorkerPool.shared.threads
        self.order = order
        self.products = products
        privateFloats = (2 * C + F + c.qWidth + 31) / 32 * 32
        let sizes = [C, C, c.qWidth, c.kvWidth, c.kvWidth, c.qWidth, C, F, F].map { ($0 + 31) / 32 * 32 }
        buffer = UnsafeMutableRawPointer.allocate(byteCount: 4 * (sizes.reduce(0, +) + parts * privateFloats), alignment: 128)
            .bindMemory(to: Float.self, capacity: sizes.reduce(0, +) + parts * privateFloats)
        var at = buffer
        let slices = sizes.map { s in defer { at += s }; return at }
        (x0, x1, q, k, v, att, tmp, gate, up) = (slices[0], slices[1], slices[2], slices[3], slices[4], slices[5], slices[6], slices[7], slices[8])
        own = at
        ids = n.layers.map { [q, k, v, tmp, gate, up] L in
            (products.add([(L.q.matrix, q), (L.k.matrix, k), (L.v.matrix, v)]), products.add([(L.o.matrix, tmp)]),
             products.add([(L.gate.matrix, gate), (L.up.matrix, up)]), products.add([(L.down.matrix, tmp)]))
        }
        logitsId = products.add([(n.output.matrix, x0)])  // (pointed at each step's logits by `setOutput`)
        attention = .allocate(byteCount: 64, alignment: 64)
    }

    deinit {
        buffer.deallocate()
        attention.deallocate()
    }

    /// Makes each part's attention scratch hold `keys` keys.
    func reserveAttention(headDim: Int, keys: Int) {
        let stride = (PagedAttention.scratchBytes(headDim: headDim, keys: keys) + 127) / 128 * 128
        guard stride > attentionStride else { return }
        attention.deallocate()
        attentionStride = max(stride, 2 * attentionStride)
        attention = .allocate(byteCount: WorkerPool.shared.threads * attentionStride, alignment: 128)
    }
}

extension Llama.Network {
    /// Runs `pass` as one worker region when it is one decoded token (`ForwardPass.decodeRegionRows`); false otherwise.
    func forwardInRegion(_ pass: ForwardPass) -> Bool {
        guard let cacheRows = pass.decodeRegionRows(matrices) else { return false }
        let c = config
        var state = region.withLock { slot -> LlamaDecodeRegion? in defer { slot = nil }; return slot }
        if state == nil || state!.order != pass.order {
            state = LlamaDecodeRegion(self, order: pass.order,
                                      products: pass.regionProducts(capacity: 4 * c.layers + 1, parts: 3, maxCols: max(c.width, c.ffnWidth, c.qWidth)))
        }
        let s = state!
        defer { region.withLock { $0 = s } }
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
        return true
    }

    private func run(_ s: LlamaDecodeRegion, _ ids: UnsafePointer<(qkv: Int, o: Int, gateUp: Int, down: Int)>,
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
