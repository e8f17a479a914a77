// DecodeRegionState: the buffers and prepared products of a decoded token run as one worker region.
//
// `forward` hands each product, the attention and the logits to the worker pool in turn: ~150 hand-offs a token,
// with norms, RoPE, residuals, the gated activation and each product's activation rounding run by the caller alone
// in between. A family's decode region (LlamaDecodeRegion, Gemma3DecodeRegion) runs the whole token as one
// `WorkerPool.region`: the parts meet at a barrier only where a step needs all of the previous one (after each
// product, after the new key/value row is stored, after the attention). The small steps between (a few hundred
// floats) are done by every part into its own buffers, so they need no barrier; the residual stream is
// double-buffered and each part writes its slice of the next one. The floats are `forward`'s.
import ForgeCore
import ForgeKernels
import Synchronization

/// A decode region's buffers and prepared products for one network, kept from token to token.
final class DecodeRegionState: @unchecked Sendable {
    /// One layer's products (indices into `products`).
    struct LayerProducts {
        let qkv, o, gateUp, down: Int
    }

    let order: ProductOrder
    let width, ffnWidth, qWidth: Int
    let products: RegionProducts
    /// Per layer: its products; then the logits' product.
    let layers: UnsafeMutablePointer<LayerProducts>
    let logitsId: Int
    /// Per layer: the attention's shape for the current step (`decode` sets them).
    let shapes: UnsafeMutablePointer<CacheAttentionShape>
    let layerCount: Int
    let buffer: UnsafeMutablePointer<Float>
    let x0, x1, q, k, v, att, tmp, gate, up: UnsafeMutablePointer<Float>
    /// Each part's own floats (`privateFloats` apart): the residual sum, the normed row, SwiGLU's output, the rotated queries.
    let own: UnsafeMutablePointer<Float>
    let privateFloats: Int
    /// Each part's attention scratch (`attentionStride` bytes apart), grown with the positions.
    var attention: UnsafeMutableRawPointer
    var attentionStride = 0

    /// `layers`: each layer's q, k, v, o, gate, up and down matrices; `output`: the logits' matrix.
    init(_ c: TransformerConfig, layers: [[WeightMatrix]], output: WeightMatrix, order: ProductOrder) {
        let C = c.width, F = c.ffnWidth, parts = WorkerPool.shared.threads
        let products = RegionProducts(capacity: 4 * c.layers + 1, parts: 3, maxCols: max(C, F, c.qWidth), regionParts: parts, order: order)
        self.order = order
        self.products = products
        (width, ffnWidth, qWidth, layerCount) = (C, F, c.qWidth, c.layers)
        privateFloats = (2 * C + F + c.qWidth + 31) / 32 * 32
        let sizes = [C, C, c.qWidth, c.kvWidth, c.kvWidth, c.qWidth, C, F, F].map { ($0 + 31) / 32 * 32 }
        buffer = UnsafeMutableRawPointer.allocate(byteCount: 4 * (sizes.reduce(0, +) + parts * privateFloats), alignment: 128)
            .bindMemory(to: Float.self, capacity: sizes.reduce(0, +) + parts * privateFloats)
        var at = buffer
        let slices = sizes.map { s in defer { at += s }; return at }
        (x0, x1, q, k, v, att, tmp, gate, up) = (slices[0], slices[1], slices[2], slices[3], slices[4], slices[5], slices[6], slices[7], slices[8])
        own = at
        self.layers = .allocate(capacity: layers.count)
        for (l, m) in layers.enumerated() {
            (self.layers + l).initialize(to: LayerProducts(qkv: products.add([(m[0], q), (m[1], k), (m[2], v)]), o: products.add([(m[3], tmp)]),
                                                           gateUp: products.add([(m[4], gate), (m[5], up)]), down: products.add([(m[6], tmp)])))
        }
        logitsId = products.add([(output, x0)])  // (pointed at each step's logits by `setOutput`)
        shapes = .allocate(capacity: c.layers)
        shapes.initialize(repeating: CacheAttentionShape(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, scale: 1, window: nil),
                          count: c.layers)
        attention = .allocate(byteCount: 64, alignment: 64)
    }

    deinit {
        buffer.deallocate()
        attention.deallocate()
        layers.deallocate()
        shapes.deallocate()
    }

    /// One part's own buffers in a region.
    struct Part {
        /// The residual sum, the normed row, the gated activation and the rotated queries.
        let r, h, g, qr: UnsafeMutablePointer<Float>
        /// Attention scratch.
        let scratch: UnsafeMutableRawPointer
        /// The slice of the residual stream this part writes (whole 16-float lines; the last part to the end).
        let lo, hi: Int
    }

    /// Part `part`'s own buffers.
    func buffers(_ part: RegionPart) -> Part {
        let r = own + part.index * privateFloats, h = r + width, g = h + width
        let C = width, i = part.index, n = part.parts
        return Part(r: r, h: h, g: g, qr: g + ffnWidth, scratch: attention + i * attentionStride,
                    lo: C * i / n / 16 * 16, hi: i + 1 == n ? C : C * (i + 1) / n / 16 * 16)
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

/// A family's matrices as a decode region prepares them.
struct DecodeRegionMatrices {
    /// Every matrix a token multiplies (each must have region kernels).
    let all: [WeightMatrix]
    /// Per layer: q, k, v, o, gate, up and down.
    let layers: () -> [[WeightMatrix]]
    let output: WeightMatrix
    let embedding: WeightMatrix
}

/// Where a network keeps its decode region's state between tokens: taken out while a pass uses it, so two passes
/// at once (different threads) never share buffers (the second makes its own).
final class DecodeRegionSlot: Sendable {
    private let slot = Mutex<DecodeRegionState?>(nil)

    /// Runs `body` with the kept state for `order`, or a new one from `make`, and keeps it afterwards.
    func with(order: ProductOrder, make: () -> DecodeRegionState, _ body: (DecodeRegionState) -> Void) {
        var state = slot.withLock { s -> DecodeRegionState? in defer { s = nil }; return s }
        if state == nil || state!.order != order { state = make() }
        let s = state!
        body(s)
        slot.withLock { $0 = s }
    }

    /// Runs `pass` as one decoded token in a region when it qualifies (`ForwardPass.decodeRegionRows`): embeds the token
    /// (× `embedScale`), sets each layer's attention shape (`scale`: the scores' scale, nil for the config's), points the
    /// logits product at the pass's logits and calls `body` with the state and the cache rows. False otherwise.
    func decode(_ pass: ForwardPass, _ m: DecodeRegionMatrices, embedScale: Float = 1, scale: Float? = nil,
                _ body: (DecodeRegionState, PagedDecodeRows) -> Void) -> Bool {
        guard let cacheRows = pass.decodeRegionRows(m.all) else { return false }
        let c = pass.config
        with(order: pass.order, make: { DecodeRegionState(c, layers: m.layers(), output: m.output, order: pass.order) }) { s in
            s.reserveAttention(headDim: c.headDim, keys: pass.batch.positions[0] + 1)
            for l in 0..<c.layers { s.shapes[l] = pass.attentionShape(layer: l, scale: scale) }
            pass.embed(m.embedding, into: s.x0, scale: embedScale)
            let V = m.output.rows
            pass.logits = [Float](unsafeUninitializedCapacity: V) { logits, initialized in
                s.products.setOutput(s.logitsId, logits.baseAddress!)
                body(s, cacheRows)
                initialized = V
            }
        }
        return true
    }
}
