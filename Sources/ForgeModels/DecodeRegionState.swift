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

    /// `layers`: each layer's q, k, v, o, gate, up and down matrices; `output`: the logits' matrix.
    init(_ c: TransformerConfig, layers: [[WeightMatrix]], output: WeightMatrix, order: ProductOrder) {
        let C = c.width, F = c.ffnWidth, parts = WorkerPool.shared.threads
        let products = RegionProducts(capacity: 4 * c.layers + 1, parts: 3, maxCols: max(C, F, c.qWidth), regionParts: parts, order: order)
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
        ids = layers.map { [q, k, v, tmp, gate, up] m in
            (products.add([(m[0], q), (m[1], k), (m[2], v)]), products.add([(m[3], tmp)]),
             products.add([(m[4], gate), (m[5], up)]), products.add([(m[6], tmp)]))
        }
        logitsId = products.add([(output, x0)])  // (pointed at each step's logits by `setOutput`)
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
}
