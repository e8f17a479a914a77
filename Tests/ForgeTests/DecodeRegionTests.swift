// A decoded token as one worker region (RegionProducts, Llama's decode region): the same floats as the
// hand-off-per-step path, for every integer-kernel type, both product orders, and a real model.
@testable import ForgeKernels
import ForgeCore
import ForgeInference
import ForgeModels
import Testing

@Suite struct DecodeRegionTests {
    /// Products run by a region's parts give `WeightMatrix.multiply`'s floats bit for bit: for every type with integer
    /// kernels, stored and packed, row counts that are and are not whole groups, in both product orders, and
    /// several products one after another in one region (each part rounding the activations into its own scratch).
    @Test(arguments: [GGMLType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q6_K])
    func regionProductsGiveMultiplysFloats(type: GGMLType) {
        var rng = RNG(seed: UInt64(type.rawValue) + 71)
        let cols = 512, rowCounts = [type == .q4_0 ? 104 : 101, 72, 8]
        let blocks = rowCounts.map { randomBlocks(type, elements: $0 * cols, &rng) }
        let x = (0..<(2 * cols)).map { _ in Float(rng.normal()) * (rng.uniform() < 0.05 ? 20 : 1) }
        let raws = blocks.map { b -> UnsafeMutableRawPointer in
            let p = UnsafeMutableRawPointer.allocate(byteCount: b.count, alignment: 64)
            p.copyMemory(from: b, byteCount: b.count)
            return p
        }
        defer { raws.forEach { $0.deallocate() } }
        let stored = zip(rowCounts, raws).map { WeightMatrix(type: type, rows: $0, cols: cols, base: $1) }
        let packed = stored.map { $0.packedForDecode() }
        for matrices in [stored, packed] where matrices.allSatisfy(RegionProducts.supports) {
            for order in [ProductOrder.llamaCpp, .blockSums] {
                let outputs = rowCounts.map { UnsafeMutablePointer<Float>.allocate(capacity: $0) }
                let second = rowCounts.map { UnsafeMutablePointer<Float>.allocate(capacity: $0) }
                defer { (outputs + second).forEach { $0.deallocate() } }
                let products = RegionProducts(capacity: 2, parts: 3, maxCols: cols, regionParts: WorkerPool.shared.threads, order: order)
                let all = products.add(Array(zip(matrices, outputs))), one = products.add([(matrices[1], second[1])])
                x.withUnsafeBufferPointer { xb in
                    let x0 = xb.baseAddress!, x1 = x0 + cols
                    WorkerPool.shared.region { part in
                        let plan = products.plan()
                        products.run(all, x0, part, plan)
                        products.run(one, x1, part, plan)
                    }
                    for (i, m) in matrices.enumerated() {
                        var y = [Float](repeating: .nan, count: m.rows)
                        y.withUnsafeMutableBufferPointer { m.multiply(x0, tokens: 1, into: $0.baseAddress!, order: order) }
                        let got = Array(UnsafeBufferPointer(start: outputs[i], count: m.rows))
                        #expect(got.map(\.bitPattern) == y.map(\.bitPattern),
                                "\(type) \(m.packed == nil ? "stored" : "packed") \(m.rows) rows, \(order)")
                    }
                    var y = [Float](repeating: .nan, count: matrices[1].rows)
                    y.withUnsafeMutableBufferPointer { matrices[1].multiply(x1, tokens: 1, into: $0.baseAddress!, order: order) }
                    #expect(Array(UnsafeBufferPointer(start: second[1], count: y.count)).map(\.bitPattern) == y.map(\.bitPattern),
                            "\(type): the second product of the region")
                }
            }
        }
    }

    /// SmolLM2 Q4_1 (Llama) and Gemma 3 Q4_K_M (Q4_K, Q5_0, Q6_K and Q8_0 matrices; sliding windows, per-head norms)
    /// decoding: the region's logits are the hand-off path's, bit for bit, in both product orders and over Float16 and
    /// Float32 caches (a prompt, then tokens one at a time).
    @Test(arguments: [smolLM2Path] + (gemma3Path.map { [$0] } ?? []))
    func decodesTheSameInARegion(path: String) throws {
        let model = try ModelLoader.load(path)
        let prompt: [Int32] = [2, 504, 3458, 282, 2824], tokens: [Int32] = [253, 1345, 30, 2, 11, 504, 42]
        for cacheType in [KVCacheType.f16, .f32] {
            for order in [ProductOrder.llamaCpp, .blockSums] {
                model.productOrder = order
                var logits: [[Float]] = []
                for regions in [false, true] {
                    model.decodeRegions = regions
                    let session = try InferenceSession(model: model, contextLength: 64, cacheType: cacheType)
                    var out = try session.forward(prompt, logits: .last)
                    for t in tokens { out += try session.forward([t], logits: .last) }
                    logits.append(out)
                }
                #expect(logits[0].count == (tokens.count + 1) * model.config.vocabSize)
                #expect(logits[0].map(\.bitPattern) == logits[1].map(\.bitPattern), "\(path): \(cacheType) cache, \(order)")
            }
        }
        model.productOrder = .standard
        model.decodeRegions = ForwardPass.regionsByDefault
    }
}
